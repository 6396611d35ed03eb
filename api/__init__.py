"""ekjon's faces: the HTTP API and the ``ekjon`` command line. They may import everything."""
