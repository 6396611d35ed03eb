"""Small hand-made homes: a few MIS files written as CSV with their mappings, ingested as
``ekjon ingest`` would, for tests of whole resolve runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from engine.home import Home
from engine.ingest.run import ingest_folder
from engine.ingest.store import RecordStore

PLACE = {"district": "BD3026", "upazila": "savar", "union": "ashulia"}
NAMES = ("Abdul Karim", "Rahima Begum", "Sushila Rani Das", "Jahanara Khatun", "Nurul Islam")


def write_source(
    folder: Path, source: str, rows: Sequence[Mapping[str, Any]], programme: str
) -> None:
    """``folder/<source>.csv`` and its mapping: column ``id`` is the record id, every other
    column the canonical field of its name."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(list(rows))
    frame.to_csv(folder / f"{source}.csv", index=False)
    fields: dict[str, Any] = {c: c for c in frame.columns if c != "id"}
    fields["programme"] = {"value": programme}
    mapping = {"source": source, "kind": "programme", "record_id": ["id"], "fields": fields}
    (folder / f"{source}.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")


def ingest(home: Home, folder: Path) -> None:
    with RecordStore(home.records) as store:
        ingest_folder(store, folder, reports_dir=home.reports)


def namesakes_home(root: Path) -> Home:
    """Namesakes: per name, two old-age records of one name, birth date and phone but different
    NIDs (two people), and a widow-allowance record without an NID that matches both equally
    well. The model links it to each with the same (capped) score; only one can have it."""
    old_age, widows = [], []
    for i, name in enumerate(NAMES):
        same = {"full_name": name, "date_of_birth": f"19{50 + i}-0{i + 1}-1{i}", **PLACE}
        same["phone"] = f"017112345{i:02d}"
        old_age.append({"id": f"{i}a", "nid": f"26123456{i:02d}901", **same})
        old_age.append({"id": f"{i}c", "nid": f"26123456{i:02d}777", **same})
        widows.append({"id": f"{i}b", **same})
    folder = root / "world"
    write_source(folder, "dss_oa", old_age, "old_age_allowance")
    write_source(folder, "dss_widow", widows, "widow_allowance")
    home = Home.of(root / "home")
    ingest(home, folder)
    return home


def rebuild_snapshots_reversed(home: Home) -> None:
    """Rewrite every source's Parquet snapshot of current records with its rows in reverse order,
    as a rebuilt snapshot (or a killed-and-resumed ingest) may order them."""
    with RecordStore(home.records) as store:
        before = store.current()[["source", "record_id"]]
        for source in store.sources():
            table = store._snapshot(source)
            reversed_rows = table.take(np.arange(table.num_rows)[::-1])
            store._write_snapshot(source, reversed_rows, store._generation(source))
        after = store.current()[["source", "record_id"]]
    assert not before.equals(after) and len(before) == len(after)
