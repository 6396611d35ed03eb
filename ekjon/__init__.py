"""The ground floor shared by every ekjon package.

``engine``, ``graph``, ``models``, ``synth`` and ``api`` may all import it; it imports none of them.
"""
