"""ekjon's engine: map, validate and normalise MIS records; block, compare, score, cluster them.

Data flows one way: sources -> ``engine`` -> ``graph`` -> ``api``. The engine imports ``models`` and
the graph store *interface* only.
"""
