"""A synthetic world as data to work on: written (:func:`synthesise`) and ingested into a record
store (:func:`load_world`), as ``ekjon synth`` and ``ekjon ingest DIR`` would.

Tests, benchmarks, notebooks and :mod:`synth.train_default` use these; the engine never does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd


def load_world(folder: Path | str, store_dir: Path | str | None = None) -> pd.DataFrame:
    """Ingest every data file of a synthetic world (each with its mapping YAML beside it) into a
    record store and return its current records. The store goes to ``store_dir`` (a temporary
    folder by default)."""
    from engine.home import Home
    from engine.ingest.run import ingest_folder
    from engine.ingest.store import RecordStore

    folder = Path(folder)
    tmp = None
    if store_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="ekjon-world-")
        store_dir = tmp.name
    try:
        home = Home.of(store_dir)
        with RecordStore(home.records) as store:
            ingest_folder(store, folder, reports_dir=home.reports)
            return store.current()
    finally:
        if tmp is not None:
            tmp.cleanup()


def synthesise(
    persons: int, seed: int, out: Path | str, shapes: str = "default", shape_seed: int = 0
) -> Path:
    """Write a synthetic world (what ``ekjon synth`` writes) into ``out``; ``shapes="varied"``
    re-cuts each source (``ekjon synth --shapes varied --shape-seed S``, :mod:`synth.shapes`)."""
    from synth import WorldParameters, generate_world

    out = Path(out)
    params = WorldParameters(persons=persons, seed=seed, shapes=shapes, shape_seed=shape_seed)
    generate_world(params, out)
    return out
