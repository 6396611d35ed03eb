"""ekjon's identity graph: one ``GraphStore`` interface, two stores (embedded networkx, Neo4j),
and the analysts' questions as query functions over any store.

Imports neither ``engine`` nor ``api``.
"""
