"""The Neo4j backend: the store over Bolt, the offline bulk import, the project's own server."""
