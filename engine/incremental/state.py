"""The incremental resolver's saved state: what the batch writes for the API to load.

Files in one folder:

=====================  ==========================================================================
file                   contents
=====================  ==========================================================================
``incremental.json``   format and version, settings (blocking rules, thresholds), model version,
                       record count
``prepared.parquet``   the prepared frame (:data:`engine.resolve.prepare.PREPARED_COLUMNS`) +
                       ``person_id``
``keys.parquet``       ``rule, hash, record``: every blocking key of every record (uint64 hash of
                       the key's values), sorted by rule and hash
``codes.parquet``      ``kind, value, code, target``: the integer codes of households, districts,
                       upazilas, unions, BRNs and fathers' name keys, the NID smart-card links and
                       the parents of place names (``place:union>district``, ...)
``sample.parquet``     a few hundred of the batch's canonical records with their ``row``, on which
                       :func:`engine.resolve.prepare_one.prepare_one` is checked at load
``tables/``            the same state as Arrow tables a fresh process opens memory-mapped
                       (:mod:`engine.incremental.tables`); a state without them (written by an
                       older ekjon) is read whole from the Parquet files, slower
=====================  ==========================================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.incremental.tables import TABLES_VERSION, write_tables
from engine.resolve.block_index import RuleIndex
from engine.resolve.blocking import BlockingRule
from engine.resolve.pipeline import MatchModel, ResolveSettings
from engine.resolve.prepare_one import RegistryContext

log = logging.getLogger(__name__)


FORMAT: Final = "ekjon.incremental"
#: 2: places keyed by their own names, filled in through the gazetteer; whole-name blocking keys
FORMAT_VERSION: Final = 2
STATE_FILE: Final = "incremental.json"
PREPARED_FILE: Final = "prepared.parquet"
KEYS_FILE: Final = "keys.parquet"
CODES_FILE: Final = "codes.parquet"
#: ``kind`` of a codes row that says a place's parent: ``place:union>district`` etc.
PLACE_PREFIX: Final = "place:"
SAMPLE_FILE: Final = "sample.parquet"


def _settings_to_dict(settings: ResolveSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["rules"] = [
        {
            "name": r.name,
            "columns": list(r.columns),
            "max_block": r.max_block,
            "refine": list(r.refine),
        }
        for r in settings.rules
    ]
    return out


def settings_from_dict(data: Mapping[str, Any]) -> ResolveSettings:
    rules = tuple(
        BlockingRule(r["name"], tuple(r["columns"]), int(r["max_block"]), tuple(r["refine"]))
        for r in data["rules"]
    )
    rest = {k: v for k, v in data.items() if k != "rules"}
    return ResolveSettings(rules=rules, **rest)


def write_state(
    folder: Path | str,
    prepared: pd.DataFrame,
    person: np.ndarray,
    context: RegistryContext,
    indexes: Sequence[RuleIndex],
    sample: pd.DataFrame | None,
    model: MatchModel,
    settings: ResolveSettings,
) -> Path:
    """Write a resolver's state (see the module docstring) into ``folder``; returns it.

    ``prepared`` gets a ``person_id`` column while it is written (and loses it again): pass a
    frame of the caller's own."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prepared["person_id"] = person
    try:
        # made into Arrow once, for the Parquet file and the tables (what to_parquet would make)
        table = pa.Table.from_pandas(prepared, preserve_index=False)
        pq.write_table(table, folder / PREPARED_FILE)
        write_tables(folder, prepared, context, indexes, sample, table=table)
        del table
    finally:
        del prepared["person_id"]
    parts = []
    for index in indexes:
        hashes, records = index.merged()
        parts.append(pd.DataFrame({"rule": index.rule.name, "hash": hashes, "record": records}))
    pd.concat(parts, ignore_index=True).to_parquet(folder / KEYS_FILE, index=False)
    rows = [
        {"kind": kind, "value": value, "code": code, "target": None}
        for kind, table in context.codes.items()
        for value, code in table.items()
    ]
    rows += [
        {"kind": "nid_link", "value": s, "code": -1, "target": c}
        for s, c in context.nid_links.items()
    ]
    rows += [
        {"kind": f"{PLACE_PREFIX}{child}>{parent}", "value": name, "code": -1, "target": above}
        for (child, parent), table in context.places.parents.items()
        for name, above in table.items()
    ]
    codes = pd.DataFrame(rows, columns=["kind", "value", "code", "target"])
    codes.to_parquet(folder / CODES_FILE, index=False)
    if sample is not None:
        sample.to_parquet(folder / SAMPLE_FILE, index=False)
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "records": len(prepared),
        "tables": TABLES_VERSION,
        "model_version": getattr(model, "model_version", None),
        "settings": _settings_to_dict(settings),
        "saved_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
    }
    (folder / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    return folder
