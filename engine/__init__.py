"""ekjon's engine: map + validate + normalise MIS records, then block, compare, score and cluster them.

Data flows one way: sources -> ``engine`` -> ``graph`` -> ``api``. The engine imports ``models`` and
the graph store *interface* only.
"""
