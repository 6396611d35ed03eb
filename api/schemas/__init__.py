"""Request and answer shapes of the HTTP API, one module per resource (pydantic lives only here)."""
