"""Sources into the record store: mapping files, readers, the ingest run, the versioned record
store."""
