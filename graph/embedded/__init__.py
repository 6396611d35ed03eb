"""The embedded graph store: ekjon's default, in a folder, nothing to install or run.

The graph is kept as column tables (one Arrow file per node label and edge group) with a journal
of row-level writes on top; see :mod:`graph.embedded.store` for what is on disk and what holds
when processes crash, and docs/graph.md.
"""

from __future__ import annotations

from graph.embedded.store import EmbeddedStore

__all__ = ["EmbeddedStore"]
