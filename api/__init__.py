"""ekjon's faces: the HTTP API (FastAPI) and the ``ekjon`` command line. They may import everything."""
