"""Stable person and household IDs, the ledger of merges and splits, and households."""
