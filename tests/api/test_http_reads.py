"""What analysts read (findings, identifier search), what reviewers decide (explain, decisions)
and the MIS ingest jobs, over HTTP."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.service import Service, Settings
from engine.home import Home

from .conftest import MIS_SOURCE, Served

#: Each finding route, its query, a filter it takes (and the row column the filter reads), and
#: the column holding the persons (or households) it is audited with.
FINDINGS: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "double-dipping": ({}, "rule", "rule", "person_id"),
    "suspicious": ({"min_risk": 0}, "identifier_type", "identifier_type", "person_ids"),
    "reference-checks": ({}, "check", "check", "person_id"),
    "coverage": ({"pmt_cutoff": 40}, "finding", "finding", "household_id"),
}


def _get(served: Served, path: str, *, role: str = "analyst", **params: Any) -> Any:
    response = served.client.get(path, params=params, headers=served.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


def _audited_since(served: Served, seq: int) -> list[dict[str, Any]]:
    return served.service.access.audit_rows(after=seq, limit=100_000)


def _last_seq(served: Served) -> int:
    rows = served.service.access.audit_rows(after=0, limit=1_000_000)
    return rows[-1]["seq"] if rows else 0


@pytest.mark.parametrize("name", list(FINDINGS))
def test_each_finding_route_pages_and_filters(served: Served, name: str) -> None:
    query, parameter, column, who = FINDINGS[name]
    path = f"/v1/findings/{name}"
    whole = _get(served, path, **query, limit=1000)
    assert whole["total"] == len(whole["rows"]) >= 3, whole

    seq = _last_seq(served)
    first = _get(served, path, **query, limit=2)
    second = _get(served, path, **query, offset=2, limit=2)
    assert (first["total"], first["offset"], first["limit"]) == (whole["total"], 0, 2)
    assert first["rows"] + second["rows"] == whole["rows"][:4]
    # each page audited with the persons (households) on it, and with no one else
    on_page = {p for row in first["rows"] for p in str(row[who]).split(";")}
    audited = _audited_since(served, seq)
    assert audited[0]["route"] == f"GET {path}" and set(audited[0]["persons"]) == on_page

    value = whole["rows"][-1][column]
    chosen = _get(served, path, **query, **{parameter: value}, limit=1000)
    assert 0 < chosen["total"] <= whole["total"]
    assert all(row[column] == value for row in chosen["rows"])
    assert chosen["rows"] == [row for row in whole["rows"] if row[column] == value]
    unknown = _get(served, path, **query, **{parameter: "no-such-thing"})
    assert unknown["total"] == 0 and unknown["rows"] == []

    too_many = served.client.get(
        path, params={**query, "limit": 10_000}, headers=served.headers("analyst")
    )
    assert too_many.status_code == 422


def test_findings_routes_read_the_policy_file_once(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server judges by the shipped policy read once, not parsed again for each request."""
    import graph.policy

    reads: list[object] = []
    load = graph.policy.load_policy
    monkeypatch.setattr(graph.policy, "load_policy", lambda *a: reads.append(a) or load(*a))
    graph.policy.default_policy.cache_clear()
    for _ in range(3):
        assert _get(served, "/v1/findings/double-dipping", limit=5)["policy_version"]
        _get(served, "/v1/findings/coverage", pmt_cutoff=40, limit=5)
    assert len(reads) == 1


def test_findings_say_their_policy_and_filter_by_programme_and_district(served: Served) -> None:
    found = _get(served, "/v1/findings/double-dipping", limit=1000)
    assert found["policy_version"] == "double_dipping-v1"
    programme = found["rows"][0]["programmes"].split(";")[0]
    held = _get(served, "/v1/findings/double-dipping", programme=programme, limit=1000)
    assert held["rows"] and all(programme in r["programmes"].split(";") for r in held["rows"])
    assert held["total"] == sum(programme in r["programmes"].split(";") for r in found["rows"])

    covered = _get(served, "/v1/findings/coverage", pmt_cutoff=40, limit=1000)
    code = covered["rows"][0]["district"]
    by_code = _get(served, "/v1/findings/coverage", pmt_cutoff=40, district=code, limit=1000)
    assert by_code["rows"] and all(r["district"] == code for r in by_code["rows"])
    nowhere = _get(served, "/v1/findings/coverage", pmt_cutoff=40, district="Atlantis")
    assert nowhere["total"] == 0
    bad = served.client.get(
        "/v1/findings/coverage",
        params={"pmt_cutoff": 40, "well_off_cutoff": 10},
        headers=served.headers("analyst"),
    )
    assert bad.status_code == 422 and "well_off_cutoff" in bad.json()["detail"]


def test_findings_mask_identifiers_unless_a_purpose_is_named(served: Served) -> None:
    masked = _get(served, "/v1/findings/reference-checks", limit=1000)
    wallets = [r for r in masked["rows"] if r["check"] == "wallet_not_own"]
    assert wallets and all("*" in r["identifier"] and "*" in r["found"] for r in wallets)
    response = served.client.get(
        "/v1/findings/reference-checks",
        params={"limit": 1000},
        headers=served.headers("analyst", **{"X-Purpose": "fraud_investigation"}),
    )
    revealed = [r for r in response.json()["rows"] if r["check"] == "wallet_not_own"]
    assert revealed and not any("*" in r["identifier"] for r in revealed)


def _a_phone(served: Served) -> tuple[str, str]:
    """A mobile number of the world's old-age MIS, its record and that record's person."""
    frame = pd.read_csv(served.world / f"{MIS_SOURCE}.csv", dtype=str)
    row = frame[frame["mobile"].str.len() == 11].iloc[0]
    persons = served.persons
    person = persons.loc[
        (persons["source"] == MIS_SOURCE) & (persons["record_id"] == row["ben_id"]), "person_id"
    ].iloc[0]
    return row["mobile"], person


def test_a_phone_finds_its_persons_masked_without_a_purpose(served: Served) -> None:
    phone, person = _a_phone(served)
    written = f"+88 {phone[:5]}-{phone[5:]}"  # as a clerk might type it
    body = {"type": "phone", "value": written}
    seq = _last_seq(served)
    response = served.client.post(
        "/v1/identifiers/search", json=body, headers=served.headers("analyst")
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert person in [p["person_id"] for p in found["persons"]]
    assert phone not in response.text and found["identifier"].endswith(phone[-3:])
    records = [r["record_id"] for p in found["persons"] for r in p["records"]]
    assert any(r.startswith(f"{MIS_SOURCE}/") for r in records)
    audited = _audited_since(served, seq)
    assert [a["route"] for a in audited] == ["POST /v1/identifiers/search"]
    assert person in audited[0]["persons"] and not audited[0]["revealed"]

    purpose = served.headers("analyst", **{"X-Purpose": "grievance"})
    revealed = served.client.post("/v1/identifiers/search", json=body, headers=purpose)
    assert revealed.json()["identifier"] == phone


def test_search_refuses_a_value_it_cannot_read_and_finds_nobody_for_an_unknown_one(
    served: Served,
) -> None:
    analyst = served.headers("analyst")
    bad = served.client.post(
        "/v1/identifiers/search", json={"type": "nid", "value": "12345"}, headers=analyst
    )
    assert bad.status_code == 422 and "12345" in bad.json()["detail"]
    nobody = served.client.post(
        "/v1/identifiers/search", json={"type": "phone", "value": "01399999999"}, headers=analyst
    )
    assert nobody.status_code == 200 and nobody.json()["persons"] == []


def test_a_shared_wallet_finds_every_holder_by_provider_and_number_or_number_alone(
    served: Served,
) -> None:
    purpose = served.headers("analyst", **{"X-Purpose": "fraud_investigation"})
    suspicious = served.client.get(
        "/v1/findings/suspicious", params={"min_risk": 0, "limit": 1000}, headers=purpose
    ).json()
    wallet = next(r for r in suspicious["rows"] if r["identifier_type"] == "wallet")
    holders = set(wallet["person_ids"].split(";"))
    for value in (wallet["identifier"], wallet["identifier"].partition(":")[2]):
        found = served.client.post(
            "/v1/identifiers/search",
            json={"type": "wallet", "value": value},
            headers=served.headers("analyst"),
        ).json()
        assert holders <= {p["person_id"] for p in found["persons"]}, value


def _two_records_of_one_person(served: Served) -> tuple[str, str, str]:
    persons = served.persons
    programme = persons[~persons["source"].isin(["ec_nid", "btrc_sim", "mfs_kyc", "bdris"])]
    sizes = programme.groupby("person_id").size()
    person = sizes[sizes >= 2].index[0]
    rows = programme[programme["person_id"] == person].iloc[:2]
    left, right = (f"{s}/{r}" for s, r in zip(rows["source"], rows["record_id"], strict=True))
    return left, right, person


@pytest.mark.parametrize("role", ["analyst", "reviewer"])
def test_explain_names_both_records_and_their_person(served: Served, role: str) -> None:
    left, right, person = _two_records_of_one_person(served)
    found = _get(served, "/v1/explain", role=role, left=left, right=right)
    assert (found["left"], found["right"]) == (left, right)
    assert found["persons"] == {"left": person, "right": person}
    assert left in found["text"] and right in found["text"]
    assert found["rows"] and {"feature", "value", "contribution", "meaning"} <= set(
        found["rows"][0]
    )
    missing = served.client.get(
        "/v1/explain",
        params={"left": left, "right": f"{MIS_SOURCE}/NO-SUCH-RECORD"},
        headers=served.headers(role),
    )
    assert missing.status_code == 404 and "NO-SUCH-RECORD" in missing.json()["detail"]


def test_a_decision_is_recorded_listed_and_refused_for_an_unknown_record(served: Served) -> None:
    left, right, _ = _two_records_of_one_person(served)
    reviewer = served.headers("reviewer")
    body = {"a": left, "b": right, "verdict": "same", "reason": "one NID card, one address"}
    made = served.client.post("/v1/decisions", json=body, headers=reviewer)
    assert made.status_code == 201, made.text
    decision = made.json()
    assert decision["reviewer"] == "test reviewer" and decision["checked"] is True
    assert {decision["a"], decision["b"]} == {left, right}

    listed = _get(served, "/v1/decisions", role="reviewer", record=left)
    assert decision["decision_id"] in [d["decision_id"] for d in listed["rows"]]
    assert listed["total"] == len(listed["rows"])

    unknown = {**body, "b": f"{MIS_SOURCE}/NO-SUCH-RECORD"}
    refused = served.client.post("/v1/decisions", json=unknown, headers=reviewer)
    assert refused.status_code == 422 and "NO-SUCH-RECORD" in refused.json()["detail"]
    after = _get(served, "/v1/decisions", role="reviewer", limit=1000)
    assert all(f"{MIS_SOURCE}/NO-SUCH-RECORD" not in (d["a"], d["b"]) for d in after["rows"])


# -- ingest jobs (on a home of their own: the world's record store is left as it is)


@pytest.fixture
def jobs_home(served: Served, tmp_path: Path) -> tuple[Home, Path]:
    """An empty home, and a small file of the world's old-age MIS with its mapping."""
    frame = pd.read_csv(served.world / f"{MIS_SOURCE}.csv", dtype=str).head(6)
    frame.to_csv(tmp_path / "old_age.csv", index=False)
    shutil.copy(served.world / f"{MIS_SOURCE}.yaml", tmp_path / "old_age.yaml")
    return Home.of(tmp_path / "home"), tmp_path


def _upload(client: TestClient, folder: Path, token: str, mapping: str | None = None) -> Any:
    text = mapping if mapping is not None else (folder / "old_age.yaml").read_text()
    files = {
        "data": ("old_age.csv", (folder / "old_age.csv").read_bytes(), "text/csv"),
        "mapping": ("old_age.yaml", text.encode(), "application/yaml"),
    }
    return client.post("/v1/ingest/jobs", files=files, headers={"X-API-Key": token})


def _finished(client: TestClient, location: str, token: str) -> dict[str, Any]:
    for _ in range(200):
        job = client.get(location, headers={"X-API-Key": token}).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job still {job['status']}")


def test_an_ingest_job_runs_and_only_its_key_sees_it(jobs_home: tuple[Home, Path]) -> None:
    home, folder = jobs_home
    service = Service(home, "embedded", Settings()).start()
    mine = service.access.create_key("old-age MIS", "mis", [MIS_SOURCE]).token
    other = service.access.create_key("old-age MIS too", "mis", [MIS_SOURCE]).token
    with TestClient(create_app(service)) as client:
        response = _upload(client, folder, mine)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        assert location == f"/v1/jobs/{response.json()['job_id']}"
        assert int(response.headers["Retry-After"]) >= 1
        assert response.json()["status"] in ("queued", "running", "succeeded")

        job = _finished(client, location, mine)
        assert job["status"] == "succeeded", job
        report = job["report"]
        assert (report["rows_read"], report["ingested"], report["quarantined"]) == (6, 6, 0)
        assert report["source"] == MIS_SOURCE and report["file"] == "old_age.csv"

        theirs = client.get(location, headers={"X-API-Key": other})
        assert theirs.status_code == 404

        widow = (folder / "old_age.yaml").read_text().replace(MIS_SOURCE, "dss_widow")
        refused = _upload(client, folder, mine, mapping=widow)
        assert refused.status_code == 403 and "dss_widow" in refused.json()["detail"]
        broken = _upload(client, folder, mine, mapping="source: [unclosed")
        assert broken.status_code == 422
        text = (folder / "old_age.yaml").read_text()
        twice = _upload(client, folder, mine, mapping=text + "source: dss_widow\n")
        assert twice.status_code == 422 and "'source' is given twice" in twice.json()["detail"]

    # the job outlives the process that ran it
    again = Service(home, "embedded", Settings()).start()
    with TestClient(create_app(again)) as client:
        kept = client.get(location, headers={"X-API-Key": mine}).json()
    assert kept["status"] == "succeeded" and kept["report"] == report


def test_a_job_queued_before_a_restart_runs_after_it(jobs_home: tuple[Home, Path]) -> None:
    home, folder = jobs_home
    service = Service(home, "embedded", Settings())
    token = service.access.create_key("old-age MIS", "mis", [MIS_SOURCE])
    uploads = home.root / "uploads" / "0123456789abcdef"
    uploads.mkdir(parents=True)
    shutil.copy(folder / "old_age.csv", uploads / "old_age.csv")
    shutil.copy(folder / "old_age.yaml", uploads / "mapping.yaml")
    service.access.add_job(
        "0123456789abcdef", token.key.key_id, MIS_SOURCE, "old_age.csv", "uploads/0123456789abcdef"
    )
    service.access.close()

    restarted = Service(home, "embedded", Settings()).start()
    with TestClient(create_app(restarted)) as client:
        job = _finished(client, "/v1/jobs/0123456789abcdef", token.token)
    assert job["status"] == "succeeded" and job["report"]["ingested"] == 6
