"""The synthetic world: deterministic, readable through its mappings, true to its truth files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from engine.record import CANONICAL_FIELDS
from synth import WorldParameters, generate_world

PERSONS = 2_000
SEED = 11
BANGLA_LETTER = re.compile(r"[\u0980-\u09e5\u09f0-\u09ff]")  # Bangla script except its digits
LATIN_LETTER = re.compile(r"[A-Za-z]")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldParameters(persons=PERSONS, seed=SEED), out)
    return out


@pytest.fixture(scope="module")
def info(world: Path) -> dict:
    return json.loads((world / "world.json").read_text(encoding="utf-8"))


def read_source(world: Path, file: str, mapping: dict) -> pd.DataFrame:
    path = world / file
    if file.endswith(".parquet"):
        return pq.read_table(path).to_pandas().astype("string").fillna("")
    if file.endswith(".jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return pd.DataFrame(rows).astype("string").fillna("")
    sep = mapping["file"]["delimiter"]
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")


def mapped_column(entry: str | dict) -> str | None:
    return entry if isinstance(entry, str) else entry.get("column")


def record_ids(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    ids = frame[key[0]].astype(str)
    for col in key[1:]:
        ids = ids + ":" + frame[col].astype(str)
    return ids


@pytest.fixture(scope="module")
def sources(world: Path, info: dict) -> dict[str, tuple[dict, pd.DataFrame]]:
    out = {}
    for name, meta in info["sources"].items():
        mapping = yaml.safe_load((world / meta["mapping"]).read_text(encoding="utf-8"))
        out[name] = (mapping, read_source(world, meta["file"], mapping))
    return out


@pytest.fixture(scope="module")
def truth(world: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(world / "truth" / f"{name}.csv", dtype=str, keep_default_na=False)
        for name in (
            "records",
            "persons",
            "double_dipping",
            "suspicious_identifiers",
            "shared_identifiers",
        )
    }


def test_same_seed_writes_byte_identical_files(world: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_world(WorldParameters(persons=PERSONS, seed=SEED), again)
    files = sorted(p.relative_to(world) for p in world.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert (world / f).read_bytes() == (again / f).read_bytes(), f


def test_another_seed_writes_another_world(world: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_world(WorldParameters(persons=PERSONS, seed=SEED + 1), other)
    assert (world / "dss_old_age.csv").read_bytes() != (other / "dss_old_age.csv").read_bytes()


def test_world_has_exactly_the_persons_asked_for(
    truth: dict[str, pd.DataFrame], info: dict
) -> None:
    assert len(truth["persons"]) == PERSONS == info["persons"]
    assert truth["persons"]["person_id"].is_unique


def test_every_source_has_a_mapping_onto_canonical_fields_whose_columns_exist(
    world: Path, sources: dict
) -> None:
    from engine.ingest.mapping import load_mapping

    expected = {
        "dss_old_age", "dss_widow", "dss_disability", "dwa_mcb", "pesp_stipend", "egpp_workers",
        "bbs_nhd", "ec_nid", "btrc_sim", "mfs_kyc", "bdris",
    }  # fmt: skip
    assert expected <= set(sources)
    for name, (mapping, frame) in sources.items():
        assert mapping["source"] == name
        assert mapping["kind"] in ("programme", "survey", "reference")
        assert set(mapping["fields"]) <= set(CANONICAL_FIELDS), name
        columns = set(frame.columns)
        assert set(mapping["record_id"]) <= columns, name
        for field, entry in mapping["fields"].items():
            col = mapped_column(entry)
            assert col is None or col in columns, f"{name}.{field} -> {col}"
        assert load_mapping(world / f"{name}.yaml").source == name
        if mapping["kind"] == "programme":
            assert "value" in mapping["fields"]["programme"]


def test_formats_differ_by_source(info: dict) -> None:
    files = {meta["file"].rsplit(".", 1)[1] for meta in info["sources"].values()}
    assert files == {"csv", "jsonl", "parquet"}


def test_truth_covers_every_record_exactly(sources: dict, truth: dict[str, pd.DataFrame]) -> None:
    records = truth["records"]
    known_persons = set(truth["persons"]["person_id"])
    for name, (mapping, frame) in sources.items():
        ids = record_ids(frame, mapping["record_id"])
        assert ids.is_unique, name
        assert (ids != "").all(), name
        in_truth = records.loc[records["source"] == name, "record_id"]
        assert sorted(ids) == sorted(in_truth), name
    assert set(records["person_id"]) <= known_persons
    assert len(records) == sum(len(frame) for _, frame in sources.values())


def test_reference_registries_describe_the_true_person(
    sources: dict, truth: dict[str, pd.DataFrame]
) -> None:
    persons = truth["persons"].set_index("person_id")
    records = truth["records"]
    _, ec = sources["ec_nid"]
    owner = records[records["source"] == "ec_nid"].set_index("record_id")["person_id"]
    assert (
        persons.loc[owner[ec["nid"]].to_numpy(), "nid17"].to_numpy() == ec["nid"].to_numpy()
    ).all()
    assert (
        persons.loc[owner[ec["nid"]].to_numpy(), "dob"].to_numpy() == ec["dob"].to_numpy()
    ).all()
    # 17-digit NIDs are the birth year and the 13-digit core, which starts with the district code
    nid = persons.loc[persons["nid17"] != ""]
    assert (nid["nid17"].str[:4] == nid["dob"].str[:4]).all()
    assert (nid["nid17"].str[4:] == nid["nid13"]).all()
    assert (nid["nid13"].str[:2] == nid["district"].str[4:6]).all()
    assert (persons["smart_nid"].str.len().isin([0, 10])).all()


def test_planted_double_dipping_matches_the_truth(
    info: dict, truth: dict[str, pd.DataFrame]
) -> None:
    planted = info["planted"]
    cases = ("oa_widow", "cash_cap", "oa_disability", "oa_household", "ghost_duplicate")
    for case in (*cases, "agent_wallet", "phone_farm"):
        assert planted[case] > 0, case
    dd = truth["double_dipping"]

    def persons(rule: str, programmes: str | None = None) -> int:
        sel = dd[dd["rule"] == rule]
        if programmes is not None:
            sel = sel[sel["programmes"] == programmes]
        return sel["person_id"].nunique()

    assert persons("cash_cap") == planted["cash_cap"]
    assert (
        persons("exclusive_pair", "old_age_allowance;widow_allowance")
        == planted["oa_widow"] + planted["cash_cap"]
    )
    assert (
        persons("exclusive_pair", "old_age_allowance;disability_allowance")
        == planted["oa_disability"] + planted["cash_cap"]
    )
    assert persons("exclusive_pair", "widow_allowance;disability_allowance") == planted["cash_cap"]
    assert (
        dd.loc[dd["rule"] == "one_per_household", "household_id"].nunique()
        == planted["oa_household"]
    )
    assert persons("duplicate_enrolment") == planted["ghost_duplicate"]
    assert set(dd["rule"]) == {
        "cash_cap",
        "exclusive_pair",
        "one_per_household",
        "duplicate_enrolment",
    }
    # a ghost duplicate's two records are in the same source under two ids
    for keys in dd.loc[dd["rule"] == "duplicate_enrolment", "record_keys"]:
        first, second = keys.split(";")
        assert first.split("/")[0] == second.split("/")[0] and first != second
    # the cash cap counts distinct cash programmes, workfare and food aid excluded
    for programmes in dd.loc[dd["rule"] == "cash_cap", "programmes"]:
        progs = programmes.split(";")
        assert len(progs) > 3 and "egpp_workfare" not in progs and "vgd_food" not in progs


def test_agent_wallets_and_phone_farms_are_planted_and_owned(
    info: dict, sources: dict, truth: dict[str, pd.DataFrame]
) -> None:
    sus = truth["suspicious_identifiers"]
    counts = sus["kind"].value_counts().to_dict()
    assert counts == {
        "agent_wallet": info["planted"]["agent_wallet"],
        "phone_farm": info["planted"]["phone_farm"],
    }
    assert (sus["persons"].astype(int) >= 5).all()
    assert (sus["persons"] == sus["households"]).all()  # unrelated persons, one per household
    assert set(sus.loc[sus["kind"] == "agent_wallet", "identifier_type"]) == {"wallet"}
    assert set(sus.loc[sus["kind"] == "phone_farm", "identifier_type"]) == {"phone"}
    # the KYC owner of an agent wallet is the agent
    records = truth["records"]
    _, kyc = sources["mfs_kyc"]
    for _, row in sus[sus["kind"] == "agent_wallet"].iterrows():
        provider, number = row["identifier"].split(":")
        hit = kyc[(kyc["provider"].str.lower() == provider) & (kyc["wallet_no"] == number)]
        assert len(hit) == 1
        key = f"{hit['provider'].iloc[0]}:{number}"
        owner = records[(records["source"] == "mfs_kyc") & (records["record_id"] == key)][
            "person_id"
        ]
        assert owner.tolist() == [row["owner_person_id"]]


def test_household_shared_wallets_and_phones_are_benign(truth: dict[str, pd.DataFrame]) -> None:
    shared = truth["shared_identifiers"]
    assert {"phone", "wallet"} <= set(shared["identifier_type"])
    assert (shared["persons"].astype(int) >= 2).all()
    assert shared["household_id"].str.match(r"^H\d{8}$").all()
    assert not set(shared["identifier"]) & set(truth["suspicious_identifiers"]["identifier"])
    # the truth's wallets column agrees: a shared wallet belongs to a member of that household
    persons = truth["persons"]
    owner_household = {}
    for hh, wallets in zip(persons["household_id"], persons["wallets"], strict=True):
        for w in filter(None, wallets.split(";")):
            owner_household[w] = hh
    wallets = shared[shared["identifier_type"] == "wallet"]
    assert len(wallets) > 0
    for identifier, hh in zip(wallets["identifier"], wallets["household_id"], strict=True):
        assert owner_household[identifier] == hh


def test_bangla_only_source_has_bangla_in_name_fields_only(sources: dict) -> None:
    mapping, frame = sources["dwa_mcb"]
    name_columns = {mapped_column(mapping["fields"][f]) for f in ("full_name", "spouse_name")}
    assert all(mapping["fields"][f]["script"] == "bn" for f in ("full_name", "spouse_name"))
    for col in frame.columns:
        values = frame[col][frame[col] != ""]
        if col in name_columns:
            assert values.map(lambda v: bool(BANGLA_LETTER.search(v))).all(), col
            assert not values.map(lambda v: bool(LATIN_LETTER.search(v))).any(), col
        else:
            assert not values.map(lambda v: bool(BANGLA_LETTER.search(v))).any(), col
    # Bangla digits turn up in phones and dates
    assert frame["mobile"].str.contains("[০-৯]").any() or frame["dob"].str.contains("[০-৯]").any()


def test_names_vary_by_source_but_not_in_the_registry(
    sources: dict, truth: dict[str, pd.DataFrame]
) -> None:
    persons = truth["persons"].set_index("person_id")
    records = truth["records"]
    _, ec = sources["ec_nid"]
    owner = records[records["source"] == "ec_nid"].set_index("record_id")["person_id"]
    true_bn = persons.loc[owner[ec["nid"]].to_numpy(), "name_bn"].to_numpy()
    assert (ec["name_bn"].to_numpy() == true_bn).all()
    tags = records["tags"]
    for tag in ("name_spelling", "name_typo", "prefix_dropped", "name_order"):
        assert tags.str.contains(tag).any(), tag
    egpp = records[records["source"] == "egpp_workers"]
    oa = records[records["source"] == "dss_old_age"]
    assert (
        egpp["tags"].str.contains("name_typo").mean() > oa["tags"].str.contains("name_typo").mean()
    )


def test_hard_cases_are_present(truth: dict[str, pd.DataFrame], sources: dict) -> None:
    persons = truth["persons"]
    twins = persons[persons["twin_of"] != ""]
    assert len(twins) >= 2
    pair = persons.set_index("person_id").loc[twins["twin_of"]]
    assert (pair["dob"].to_numpy() == twins["dob"].to_numpy()).all()
    assert (pair["household_id"].to_numpy() == twins["household_id"].to_numpy()).all()
    assert (pair["name"].to_numpy() != twins["name"].to_numpy()).all()
    sons = persons[persons["named_after"] != ""]
    assert len(sons) >= 1
    fathers = persons.set_index("person_id").loc[sons["named_after"]]
    assert (fathers["name"].to_numpy() == sons["name"].to_numpy()).all()
    assert (fathers["dob"].to_numpy() != sons["dob"].to_numpy()).all()
    assert (fathers["household_id"].to_numpy() == sons["household_id"].to_numpy()).all()
    default = persons["dob"].str[5:].isin(["01-01", "01-31"]).mean()
    assert 0.12 <= default <= 0.3
    tags = truth["records"]["tags"]
    for tag in (
        "dob_day_month_swap", "dob_year_shift", "dob_defaulted", "nid_13", "nid_10", "nid_17",
        "phone_of_household", "wallet_of_household", "ghost_duplicate", "agent_wallet",
        "phone_farm",
    ):  # fmt: skip
        assert tags.str.contains(tag).any(), tag
    _, egpp = sources["egpp_workers"]
    mapping, _ = sources["egpp_workers"]
    assert "date_of_birth" not in mapping["fields"] and "as_of" in mapping["fields"]["age"]


def test_a_small_share_of_values_is_invalid(truth: dict[str, pd.DataFrame], info: dict) -> None:
    records = truth["records"]
    kinds = {n for n, meta in info["sources"].items() if meta["kind"] != "reference"}
    rows = records[records["source"].isin(kinds)]
    invalid = rows["tags"].str.contains("invalid_")
    assert 0.0005 <= invalid.mean() <= 0.005
    assert not records.loc[~records["source"].isin(kinds), "tags"].str.contains("invalid_").any()


def test_invalid_values_look_invalid(sources: dict, truth: dict[str, pd.DataFrame]) -> None:
    records = truth["records"]
    seen = 0
    for name, (mapping, frame) in sources.items():
        tags = records[records["source"] == name].set_index("record_id")["tags"]
        ids = record_ids(frame, mapping["record_id"])
        row_tags = tags.loc[ids].to_numpy()
        phone = mapped_column(mapping["fields"].get("phone", ""))
        if phone:
            bad = frame.loc[pd.Series(row_tags).str.contains("invalid_phone").to_numpy(), phone]
            assert bad.str.startswith("012").all()
            seen += len(bad)
        nid = mapped_column(mapping["fields"].get("nid", ""))
        if nid:
            bad = frame.loc[pd.Series(row_tags).str.contains("invalid_nid").to_numpy(), nid]
            assert (bad.str.len() == 12).all()
            seen += len(bad)
    assert seen > 0


def test_enrolment_respects_eligibility_outside_planted_cases(
    truth: dict[str, pd.DataFrame],
) -> None:
    persons = truth["persons"].set_index("person_id")
    records = truth["records"]
    oa = records[
        (records["source"] == "dss_old_age") & ~records["tags"].str.contains("dob_year_shift")
    ]
    who = persons.loc[oa["person_id"]]
    age = 2025 - who["dob"].str[:4].astype(int) - (who["dob"].str[5:] > "06-30").astype(int)
    assert (
        (who["gender"] == "male") & (age >= 65) | (who["gender"] == "female") & (age >= 62)
    ).all()
    widows = persons.loc[records.loc[records["source"] == "dss_widow", "person_id"]]
    assert (widows["widowed"] == "True").all() and (widows["gender"] == "female").all()
    mcb = persons.loc[records.loc[records["source"] == "dwa_mcb", "person_id"]]
    assert (mcb["gender"] == "female").all()


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="persons"):
        WorldParameters(persons=10)
    with pytest.raises(ValueError, match="districts"):
        WorldParameters(persons=1000, districts=70)


def test_cli_writes_a_world(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(
        app, ["synth", "--persons", "500", "--seed", "2", "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["persons"] == 500
    assert (tmp_path / "dss_old_age.yaml").exists() and (
        tmp_path / "truth" / "records.csv"
    ).exists()


def test_ghost_duplicates_carry_another_name_spelling(sources: dict, truth: dict) -> None:
    records = truth["records"].set_index(["source", "record_id"])
    ghosts = truth["double_dipping"]
    ghosts = ghosts[ghosts["rule"] == "duplicate_enrolment"]
    for keys in ghosts["record_keys"]:
        names = []
        for key in keys.split(";"):
            source, record_id = key.split("/", 1)
            mapping, frame = sources[source]
            col = mapped_column(mapping["fields"]["full_name"])
            ids = record_ids(frame, mapping["record_id"])
            names.append(frame.loc[(ids == record_id).to_numpy(), col].iloc[0])
            assert records.loc[(source, record_id), "person_id"]
        assert names[0] != names[1], keys
