"""The HTTP API's routers, one per resource, each under ``/v1``."""
