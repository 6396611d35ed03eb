"""One record at a time: the resolver the API's /resolve and ``ekjon match`` call.

Each per-record step sits beside its batch original (:mod:`engine.resolve.prepare_one` beside
:mod:`engine.resolve.prepare`, :mod:`engine.resolve.block_index` beside
:mod:`engine.resolve.blocking`, the ledger's choice in :mod:`engine.identity`); this package holds
what is the resolver's own: its saved state, its decision, and the agreement with the batch.
"""

from engine.errors import IncrementalError
from engine.incremental.agreement import Agreement, holdout_agreement, latency_summary
from engine.incremental.match import Match
from engine.incremental.resolver import IncrementalResolver

__all__ = [
    "Agreement",
    "IncrementalError",
    "IncrementalResolver",
    "Match",
    "holdout_agreement",
    "latency_summary",
]
