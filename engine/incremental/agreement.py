"""Does the incremental resolver agree with the batch? Held-back records resolved one by one
against a batch over the rest, compared with a batch over every record."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.incremental.resolver import IncrementalResolver
from engine.resolve.pipeline import MatchModel, ResolveSettings

# -- does it agree with the batch? ----------------------------------------------------------------


@dataclass
class Agreement:
    """How often incremental resolve gives the batch's answer on a held-back slice of records.

    Attributes
    ----------
    held_back:
        Records held back from the batch and resolved one by one.
    agree:
        Of these, records given the same answer as a batch over every record: the same person
        (batch clusters are named by the held-in records they contain, by majority), or a new
        person in both.
    outcomes:
        Counts per outcome: ``same person``, ``both new``,
        ``incremental new, batch linked``, ``incremental linked, batch new``, ``different persons``.
    records:
        One row per held-back record: ``source, record_id, incremental, batch, agree, outcome,
        probability, candidates, milliseconds``. Person IDs come from an identity ledger
        (:mod:`engine.identity.ledger`) that numbers the held-in batch's clusters, then the full
        batch's:
        the full batch's answer for a record is the ID the ledger gives its cluster (a merge keeps
        the ID with the larger overlap, a split keeps it on the larger part), "new" when the
        ledger mints one.
    milliseconds:
        Latency percentiles of ``resolve_one`` (``p50``, ``p90``, ``p99``, ``max``, ``mean``).
    timings:
        Seconds of each step (``batch held in``, ``build``, ``incremental``, ``batch all``).
    resolver:
        The resolver built from the held-in batch (for further measurements).
    """

    held_back: int
    agree: int
    outcomes: dict[str, int]
    records: pd.DataFrame
    milliseconds: dict[str, float]
    timings: dict[str, float]
    resolver: IncrementalResolver | None = field(default=None, repr=False)

    @property
    def rate(self) -> float:
        return self.agree / self.held_back if self.held_back else 1.0

    def to_text(self) -> str:
        ms = self.milliseconds
        lines = [
            f"held back {self.held_back:,} records; incremental agrees with the batch on "
            f"{self.agree:,} ({self.rate:.2%})",
            "resolve_one latency: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()),
        ]
        lines += [f"  {name}: {count:,}" for name, count in self.outcomes.items()]
        lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        return "\n".join(lines)


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    """``p50, p90, p99, max, mean`` of latencies in milliseconds."""
    ms = np.asarray(milliseconds, dtype=np.float64)
    if ms.size == 0:
        return {}
    return {
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "mean": float(ms.mean()),
    }


def holdout_agreement(
    records: pd.DataFrame,
    model: MatchModel,
    settings: ResolveSettings | None = None,
    *,
    fraction: float = 0.02,
    seed: int = 0,
    explain: bool = False,
    sequential: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Agreement:
    """Hold back a random slice of ``records``, resolve the rest in a batch, resolve each held-back
    record incrementally, and compare with a batch over every record.

    Parameters
    ----------
    records:
        Canonical records (e.g. a synthetic world's).
    model, settings:
        As for :func:`engine.resolve.pipeline.resolve`.
    fraction:
        Share of records held back (drawn at random with ``seed``; at least one).
    explain:
        Time ``resolve_one`` with explanations attached.
    sequential:
        :meth:`IncrementalResolver.add` each held-back record in turn (later ones can join
        earlier ones, as in the batch) instead of resolving each alone; a new person's
        ``new:...`` ID counts as "new person" in the comparison.
    progress:
        Called with the name of each step as it starts.
    """
    from engine.resolve.pipeline import resolve

    settings = settings or ResolveSettings()
    note = progress or (lambda step: None)
    records = records.reset_index(drop=True)
    n = len(records)
    rng = np.random.default_rng(seed)
    count = max(1, int(round(n * fraction)))
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, size=count, replace=False)] = True
    timings: dict[str, float] = {}

    from engine.identity.assign import assign_person_ids
    from engine.identity.ledger import IdentityLedger

    ledger = IdentityLedger(":memory:")
    note("batch held in")
    started = time.perf_counter()
    kept = records[~held].reset_index(drop=True)
    partial = resolve(kept, model, settings)
    person_ids = assign_person_ids(ledger, partial.assignments(), model_version=None)[
        "person_id"
    ].to_numpy(dtype=object)
    timings["batch held in"] = time.perf_counter() - started

    note("build")
    started = time.perf_counter()
    resolver = IncrementalResolver.from_resolution(
        partial, person_ids, model, settings, records=kept
    )
    timings["build"] = time.perf_counter() - started

    note("incremental")
    started = time.perf_counter()
    rows = records[held].to_dict(orient="records")
    answers, probabilities, candidates, latency = [], [], [], []
    for row in rows:
        if sequential:
            match = resolver.add(row, explain=explain)
            new_id = match.person_id is not None and match.person_id.startswith("new:")
            answers.append(None if new_id else match.person_id)
        else:
            match = resolver.resolve_one(row, explain=explain)
            answers.append(match.person_id)
        probabilities.append(match.probability)
        candidates.append(len(match.candidates))
        latency.append(match.seconds * 1000)
    timings["incremental"] = time.perf_counter() - started

    note("batch all")
    started = time.perf_counter()
    full = resolve(records, model, settings)
    # the IDs the batch over every record gets from the identity ledger; one it mints is new
    full_ids = assign_person_ids(ledger, full.assignments(), model_version=None)["person_id"]
    ledger.close()
    timings["batch all"] = time.perf_counter() - started
    batch = full_ids.to_numpy(dtype=object)[held]
    batch = np.where(np.isin(batch, person_ids), batch, None)
    incremental = np.asarray(answers, dtype=object)
    batch_new = pd.isna(batch)
    inc_new = pd.isna(incremental)
    same = np.where(batch_new | inc_new, batch_new & inc_new, incremental == batch)
    outcome = np.select(
        [inc_new & batch_new, ~inc_new & ~batch_new & same, inc_new, batch_new],
        [
            "both new",
            "same person",
            "incremental new, batch linked",
            "incremental linked, batch new",
        ],
        "different persons",
    )
    frame = pd.DataFrame(
        {
            "source": records.loc[held, "source"].to_numpy(),
            "record_id": records.loc[held, "record_id"].to_numpy(),
            "incremental": incremental,
            "batch": batch,
            "agree": same.astype(bool),
            "outcome": outcome,
            "probability": probabilities,
            "candidates": candidates,
            "milliseconds": latency,
        }
    )
    milliseconds = latency_summary(latency)
    outcomes = {str(k): int(v) for k, v in pd.Series(outcome).value_counts().items()}
    return Agreement(count, int(same.sum()), outcomes, frame, milliseconds, timings, resolver)
