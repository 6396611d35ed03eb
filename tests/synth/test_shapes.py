"""``ekjon synth --shapes varied``: the same people and truth, each source re-cut its own way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from engine.record import CANONICAL_FIELDS
from synth import WorldParameters, generate_world

from .test_synth import read_source, record_ids

PERSONS = 1_500
SEED = 5
SHAPE_SEEDS = (1, 2, 3)
AGE_IN_TEXT = re.compile(r"^\s*[0-9০-৯]{1,3}\s*(y|yrs|years|বছর)?\s*$")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[object, Path]:
    out: dict[object, Path] = {}
    root = tmp_path_factory.mktemp("shapes")
    out["default"] = root / "default"
    generate_world(WorldParameters(persons=PERSONS, seed=SEED), out["default"])
    for shape_seed in SHAPE_SEEDS:
        out[shape_seed] = root / f"varied-{shape_seed}"
        generate_world(
            WorldParameters(persons=PERSONS, seed=SEED, shapes="varied", shape_seed=shape_seed),
            out[shape_seed],
        )
    return out


def _sources(world: Path) -> dict[str, tuple[dict, pd.DataFrame]]:
    info = json.loads((world / "world.json").read_text(encoding="utf-8"))
    out = {}
    for name, meta in info["sources"].items():
        mapping = yaml.safe_load((world / meta["mapping"]).read_text(encoding="utf-8"))
        out[name] = (mapping, read_source(world, meta["file"], mapping))
    return out


def _columns(entry: str | dict) -> list[str]:
    if isinstance(entry, str):
        return [entry]
    return list(entry.get("columns") or ([entry["column"]] if "column" in entry else []))


def test_varied_shapes_keep_the_people_and_the_truth(worlds: dict[object, Path]) -> None:
    default = worlds["default"]
    for shape_seed in SHAPE_SEEDS:
        varied = worlds[shape_seed]
        for name in ("records", "persons", "double_dipping", "suspicious_identifiers"):
            assert (varied / "truth" / f"{name}.csv").read_bytes() == (
                default / "truth" / f"{name}.csv"
            ).read_bytes(), (shape_seed, name)
        plain, cut = _sources(default), _sources(varied)
        assert set(plain) == set(cut)
        for source, (mapping, frame) in cut.items():
            ids = record_ids(frame, mapping["record_id"])
            original = record_ids(plain[source][1], plain[source][0]["record_id"])
            assert ids.tolist() == original.tolist(), (shape_seed, source)


def test_every_varied_mapping_names_columns_its_file_has(worlds: dict[object, Path]) -> None:
    for shape_seed in SHAPE_SEEDS:
        for source, (mapping, frame) in _sources(worlds[shape_seed]).items():
            assert set(mapping["fields"]) <= set(CANONICAL_FIELDS), source
            assert set(mapping["record_id"]) <= set(frame.columns), source
            for field, entry in mapping["fields"].items():
                for column in _columns(entry):
                    assert column in frame.columns, (shape_seed, source, field, column)
            names = {"full_name", "full_name_bn"} & set(mapping["fields"])
            assert names, f"{source} kept no name field"


def test_varied_shapes_differ_from_ekjons_own_and_from_each_other(
    worlds: dict[object, Path],
) -> None:
    plain = _sources(worlds["default"])
    cuts = {s: _sources(worlds[s]) for s in SHAPE_SEEDS}
    for shape_seed, cut in cuts.items():
        renamed = sum(set(cut[s][1].columns) != set(plain[s][1].columns) for s in plain)
        assert renamed >= len(plain) - 2, shape_seed
    layouts = {
        s: tuple(tuple(cut[source][1].columns) for source in sorted(cut)) for s, cut in cuts.items()
    }
    assert len(set(layouts.values())) == len(SHAPE_SEEDS)


def test_same_seeds_give_the_same_shapes(worlds: dict[object, Path], tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_world(
        WorldParameters(persons=PERSONS, seed=SEED, shapes="varied", shape_seed=SHAPE_SEEDS[0]),
        again,
    )
    first = worlds[SHAPE_SEEDS[0]]
    for path in sorted(first.glob("*.*")):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_the_hard_shapes_appear_across_shape_seeds(worlds: dict[object, Path]) -> None:
    """Across a few shape seeds: split names, ages for dates, mixed date/age columns, one level
    of geography, relations as words, sources without an NID."""
    seen: set[str] = set()
    for shape_seed in SHAPE_SEEDS:
        for source, (mapping, frame) in _sources(worlds[shape_seed]).items():
            fields = mapping["fields"]
            name = fields.get("full_name")
            if isinstance(name, dict) and "columns" in name:
                seen.add("split name")
            dob = fields.get("date_of_birth")
            if isinstance(dob, dict) and "age_as_of" in dob:
                seen.add("mixed date and age")
                values = frame[dob["column"]]
                assert values.str.match(AGE_IN_TEXT).any(), source
                assert (~values.str.match(AGE_IN_TEXT) & (values != "")).any(), source
            if "age" in fields and source not in ("egpp_workers", "bbs_nhd"):
                seen.add("age for a date")
            levels = {"district", "upazila", "union"} & set(fields)
            if len(levels) == 1:
                seen.add("one geography level")
            if "nid" not in fields and source != "bdris":
                seen.add("no nid")
            if "relation_to_head" in fields:
                words = set(frame[_columns(fields["relation_to_head"])[0]])
                assert words & {"child", "parent", "ছেলে", "মেয়ে", "বাবা", "মা", "পুত্র", "কন্যা"}
                seen.add("relation words")
    assert seen == {
        "split name",
        "mixed date and age",
        "age for a date",
        "one geography level",
        "no nid",
        "relation words",
    }


#: the field a planted invalid value lands in, by its truth tag
_PLANTED: dict[str, str] = {
    "phone": "invalid_phone",
    "nid": "invalid_nid",
    "date_of_birth": "invalid_date",
}


def test_varied_worlds_ingest_with_no_warnings_but_the_planted_invalid_values(
    worlds: dict[object, Path], tmp_path: Path
) -> None:
    """Every shape (split names, ages in date columns, relations as words in either script,
    gender vocabularies, renamed columns) ingests: the only field warnings are the invalid
    values the world planted on purpose."""
    from engine.ingest.run import ingest_folder
    from engine.ingest.store import RecordStore

    seen_address: dict[int, int] = {}
    seen_postcode: dict[int, int] = {}
    for shape_seed in SHAPE_SEEDS:
        world = worlds[shape_seed]
        truth = pd.read_csv(world / "truth" / "records.csv", dtype=str, keep_default_na=False)
        tags = dict(zip(truth["source"] + "/" + truth["record_id"], truth["tags"], strict=True))
        with RecordStore(tmp_path / f"home-{shape_seed}" / "records.sqlite") as store:
            reports = ingest_folder(store, world, reports_dir=tmp_path / "reports")
            assert sum(r.quarantined for r in reports) == 0, shape_seed
            warned = 0
            for report in reports:
                for problem in store.problems(report.ingest_id, "warnings"):
                    key = f"{report.source}/{problem.record_id}"
                    planted = _PLANTED.get(problem.field or "")
                    assert planted and planted in tags[key].split(";"), (
                        shape_seed,
                        key,
                        problem,
                    )
                    warned += 1
            assert warned > 0, shape_seed  # the planted values are still found
            current = store.current()
            # ages read from date columns, relations in ekjon's words
            assert current["age"].notna().sum() > current["source"].eq("bbs_nhd").sum()
            relations = set(current["relation_to_head"].dropna())
            assert {"head", "spouse"} <= relations
            assert relations & {"son", "daughter", "child"}
            seen_address[shape_seed] = current["address"].notna().sum()
            seen_postcode[shape_seed] = current["postcode"].notna().sum()
    # some sources of some shapes give addresses and postcodes, read as such
    assert sum(seen_address.values()) > 0 and sum(seen_postcode.values()) > 0


def test_addresses_name_the_household_s_village_and_postcodes_its_upazila(
    worlds: dict[object, Path],
) -> None:
    """One household's address is the same village and para in every source that gives one
    (written its own way), and one upazila has one postcode."""
    truth = pd.read_csv(worlds[SHAPE_SEEDS[0]] / "truth" / "records.csv", dtype=str)
    household = dict(
        zip(truth["source"] + "/" + truth["record_id"], truth["household_id"], strict=True)
    )
    villages: dict[str, set[str]] = {}
    found = 0
    for shape_seed in SHAPE_SEEDS:
        for source, (mapping, frame) in _sources(worlds[shape_seed]).items():
            entry = mapping["fields"].get("address")
            if entry is None:
                continue
            found += 1
            ids = record_ids(frame, mapping["record_id"])
            for record_id, text in zip(
                ids.tolist(), frame[_columns(entry)[0]].tolist(), strict=True
            ):
                if text:
                    words = set(
                        re.findall(
                            r"[A-Za-z]+(?:pur|ganj|nagar|bari|dia|khali|kandi|danga|gram|tala|kati)\b",
                            text,
                        )
                    )
                    villages.setdefault(household[f"{source}/{record_id}"], set()).update(words)
    assert found >= 2
    # the village is the household's: one word, whichever source wrote it (spelling variants aside)
    assert sum(len(v) <= 3 for v in villages.values()) / len(villages) > 0.95
