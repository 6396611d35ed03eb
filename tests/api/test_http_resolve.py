"""``POST /v1/resolve`` as an MIS calls it: a record resolved (dry run) or stored, once, for its own
sources, with nothing of any other person in the answer."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.service import Service
from engine.home import Home
from engine.identity.ledger import IdentityLedger
from engine.ingest.store import RecordStore
from engine.record import FIELD_KINDS, is_missing_value

from .conftest import MIS_SOURCE, Served

PERSON_ID = re.compile(r"^P\d{10}$")


def _resolve(served: Served, record: dict[str, Any], *, dry_run: bool = True, **headers: str):
    return served.client.post(
        f"/v1/resolve?dry_run={str(dry_run).lower()}",
        json=record,
        headers=served.headers("mis", **headers),
    )


def _known(served: Served, n: int) -> list[tuple[dict[str, Any], str]]:
    """``n`` records of the mis key's source that the batch resolved, as the record store keeps
    them (canonical fields, cleaned values), each with the person the batch put it in."""
    with RecordStore(served.home.records) as records:
        current = records.current([MIS_SOURCE])
    batch = current.merge(served.persons[["source", "record_id", "person_id"]])
    out = []
    for row in batch.sort_values("record_id").head(n).to_dict("records"):
        record = {k: v for k, v in row.items() if k in FIELD_KINDS and not is_missing_value(v)}
        out.append((record, row["person_id"]))
    return out


def _new_person(record_id: str, nid: str, name: str) -> dict[str, Any]:
    """A record of someone the world does not hold."""
    return {
        "source": MIS_SOURCE,
        "record_id": record_id,
        "full_name": name,
        "father_name": "Abdur Rouf Talukdar",
        "gender": "Female",
        "date_of_birth": "1948-07-19",
        "nid": nid,
        "phone": "01319" + nid[-6:],
        "district": "Chuadanga",
        "upazila": "Damurhuda",
        "union": "Kurulgachhi",
        "programme": "old_age_allowance",
        "status": "Active",
        "since": "2026-11-01",
        "amount": 600,
    }


def _state(served: Served) -> dict[str, Any]:
    """What storing would change: the record store, the ledger, the graph, the resolver."""
    with RecordStore(served.home.records) as records:
        counts = records.counts()
    with IdentityLedger(served.home.ledger) as ledger:
        members = len(ledger.current())
        issued = ledger.counter("person")
    with served.service.graph() as store:
        graph = {name: store.count(name) for name in ("Record", "Person", "OF", "HAS")}
    return {
        "records": counts,
        "ledger": (members, issued),
        "graph": graph,
        "resolver": len(served.service.resolver),
    }


def test_a_known_record_resent_under_a_new_id_finds_its_person(served: Served) -> None:
    (record, person), *_ = _known(served, 1)
    answer = _resolve(served, {**record, "record_id": "RESENT-" + record["record_id"]})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["person_id"], found["outcome"], found["dry_run"]) == (person, "matched", True)
    best = found["candidates"][0]
    assert best["person_id"] == person and best["joins"] and best["probability"] > 0.9
    assert any(r["meaning"] for r in best["reasons"])
    assert {e["programme"] for e in found["enrolments"]} >= {record["programme"]}
    # the same programme under a second record of one person is a double enrolment
    rules = {f["rule"]: f for f in found["findings"]}
    assert rules["duplicate_enrolment"]["policy"] == found["policy"] == "double_dipping-v1"
    assert found["model_version"] and found["timings"]["resolve"] > 0


def test_a_dry_run_writes_nothing(served: Served) -> None:
    before = _state(served)
    for record in (_new_person("DRY-1", "19480000000000011", "Jahanara Begum Dry"),):
        answer = _resolve(served, record)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "new" and answer.json()["person_id"] is None
        assert answer.json()["stored"] is None
    (known, _), *_ = _known(served, 1)
    assert _resolve(served, {**known, "record_id": "DRY-2"}).status_code == 200
    assert _state(served) == before


def test_storing_a_new_person_gives_an_id_the_persons_route_then_shows(served: Served) -> None:
    record = _new_person("NEW-1", "19480000000000028", "Sufia Khatun Stored")
    answer = _resolve(served, record, dry_run=False)
    assert answer.status_code == 200, answer.text
    stored = answer.json()
    assert PERSON_ID.match(stored["person_id"]), stored["person_id"]
    assert (stored["outcome"], stored["stored"]) == ("new", "new")
    assert [e["record_id"] for e in stored["enrolments"]] == [f"{MIS_SOURCE}/NEW-1"]
    with RecordStore(served.home.records) as records:
        current = records.current([MIS_SOURCE])  # the source's snapshot, rebuilt
    assert current.loc[current["record_id"] == "NEW-1", "full_name"].tolist() == [
        "Sufia Khatun Stored"
    ]

    person = served.client.get(
        f"/v1/persons/{stored['person_id']}", headers=served.headers("analyst")
    )
    assert person.status_code == 200, person.text
    [shown] = person.json()["records"]
    assert (shown["source"], shown["record_id"]) == (MIS_SOURCE, "NEW-1")
    assert shown["full_name"] == "Sufia Khatun Stored"

    # the same record again: the first answer, nothing stored twice
    before = _state(served)
    again = _resolve(served, record, dry_run=False)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == stored
    assert _state(served) == before

    # a resolve of the same person under another record now finds the stored one
    second = _resolve(served, {**record, "record_id": "NEW-1b"})
    assert second.json()["person_id"] == stored["person_id"], second.json()


def test_a_second_member_of_one_household_on_old_age_allowance_is_a_finding(
    served: Served,
) -> None:
    first = _new_person("HOME-1", "19480000000000080", "Amena Khatun Household")
    second = {
        **_new_person("HOME-2", "19500000000000091", "Abdul Malek Household"),
        "gender": "Male",
        "date_of_birth": "1950-01-09",
    }
    answers = []
    for record in (first, second):
        answer = _resolve(served, {**record, "household_id": "HH-77"}, dry_run=False)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    assert answers[0]["findings"] == []
    assert answers[1]["outcome"] == "new"
    [finding] = answers[1]["findings"]
    assert (finding["rule"], finding["programmes"]) == ("one_per_household", ["old_age_allowance"])
    assert answers[0]["person_id"] in finding["detail"]  # who was enrolled first


def test_an_idempotency_key_replays_and_refuses_another_body(served: Served) -> None:
    record = _new_person("IDEM-1", "19480000000000035", "Rokeya Sultana Idem")
    first = _resolve(served, record, dry_run=False, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 200, first.text
    again = _resolve(served, record, dry_run=False, **{"Idempotency-Key": "k-1"})
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"

    other = {**record, "record_id": "IDEM-2"}
    refused = _resolve(served, other, dry_run=False, **{"Idempotency-Key": "k-1"})
    assert refused.status_code == 422 and "k-1" in refused.json()["detail"]
    # the refused body was not stored
    with RecordStore(served.home.records) as records:
        assert records.history(MIS_SOURCE, "IDEM-2") == []


def test_another_source_is_refused_by_name(served: Served) -> None:
    (record, _), *_ = _known(served, 1)
    refused = _resolve(served, {**record, "source": "dss_widow"})
    assert refused.status_code == 403
    assert "dss_widow" in refused.json()["detail"]


def test_unknown_fields_and_an_empty_record_id_are_named(served: Served) -> None:
    record = _new_person("BAD-1", "19480000000000042", "Nobody Field")
    refused = _resolve(served, {**record, "nickname": "Rina", "record_id": " "})
    assert refused.status_code == 422
    named = {tuple(e["loc"]) for e in refused.json()["detail"]}
    assert named == {("body", "nickname"), ("body", "record_id")}


def test_a_bad_phone_is_a_warning_not_an_error(served: Served) -> None:
    record = _new_person("PHONE-1", "19480000000000059", "Morium Akter Phone")
    answer = _resolve(served, {**record, "phone": "12345"})
    assert answer.status_code == 200, answer.text
    [warning] = answer.json()["warnings"]
    assert warning["field"] == "phone" and "11 digits" in warning["reason"]


def test_twenty_records_of_one_new_person_at_once_make_one_person(served: Served) -> None:
    record = _new_person("", "19480000000000066", "Hasina Banu Concurrent")

    def send(i: int) -> dict[str, Any]:
        answer = _resolve(served, {**record, "record_id": f"TWENTY-{i:02d}"}, dry_run=False)
        assert answer.status_code == 200, answer.text
        return answer.json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))
    persons = {a["person_id"] for a in answers}
    assert len(persons) == 1, persons
    [person] = persons
    assert [a["outcome"] for a in answers].count("new") == 1
    with IdentityLedger(served.home.ledger) as ledger:
        assert len(ledger.members_of(person)) == 20
    with served.service.graph() as store:
        assert len(store.neighbours("Person", person, "OF", "in")) == 20


def test_an_mis_answer_carries_no_other_persons_names_or_identifiers(served: Served) -> None:
    with RecordStore(served.home.records) as records:
        current = records.current()
    assignment = served.persons[["source", "record_id", "person_id"]]
    everyone = current.merge(assignment, on=["source", "record_id"])
    private = [
        "full_name", "full_name_bn", "father_name", "mother_name", "spouse_name",
        "nid", "nid_alt", "brn", "phone", "account_number", "record_id",
    ]  # fmt: skip
    for record, person in _known(served, 6):
        answer = _resolve(served, {**record, "record_id": "PRIVACY-" + record["record_id"]})
        assert answer.status_code == 200, answer.text
        others = everyone[everyone["person_id"] != person]
        values = {str(v) for column in private for v in others[column].dropna() if len(str(v)) >= 6}
        text = answer.text
        leaked = sorted(v for v in values if v in text)
        assert not leaked, leaked
        assert all(set(c) <= set(_CANDIDATE_FIELDS) for c in answer.json()["candidates"])


_CANDIDATE_FIELDS = (
    "person_id",
    "probability",
    "average_probability",
    "strong_link",
    "cannot_link",
    "joins",
    "reasons",
    "cannot_link_reasons",
)


def test_before_the_first_resolve_the_answer_is_503(tmp_path: Path) -> None:
    service = Service(Home.of(tmp_path / "home")).start()
    token = service.access.create_key("mis", "mis", [MIS_SOURCE]).token
    with TestClient(create_app(service)) as client:
        answer = client.post(
            "/v1/resolve",
            json=_new_person("X-1", "19480000000000073", "Early Caller"),
            headers={"X-API-Key": token},
        )
    assert answer.status_code == 503
    assert "ekjon resolve" in answer.json()["detail"] and answer.headers["Retry-After"]


def test_after_a_restart_a_person_registered_through_the_api_is_still_found(
    served: Served,
) -> None:
    """The resolver's saved state is the batch's; records stored since come back at start, so a
    second record of a person first registered through the API does not become a new person."""
    from engine.incremental import IncrementalResolver
    from engine.incremental.register import remember_registered, resolve_record

    record = _new_person("RESTART-1", "19480000000000936", "Rahima Restart Begum")
    stored = _resolve(served, record, dry_run=False).json()
    assert stored["outcome"] == "new"

    restarted = IncrementalResolver.load(served.home.incremental, served.service.model)
    key = f"{MIS_SOURCE}/RESTART-1"
    assert not restarted.knows(key)
    assert remember_registered(served.home, restarted) >= 1
    assert restarted.knows(key)
    with served.service.graph() as graph:
        again = resolve_record(restarted, {**record, "record_id": "RESTART-2"}, graph)
    assert again.match.person_id == stored["person_id"]
    assert remember_registered(served.home, restarted) == 0  # nothing twice


def test_a_dry_run_answers_while_a_record_is_being_stored(served: Served, monkeypatch) -> None:
    """A storing resolve holds the write lock from its score to its publish; a dry run writes
    nothing and does not wait for it."""
    import threading

    import engine.incremental.register as register

    reached, release = threading.Event(), threading.Event()
    lasting_id = register._lasting_id

    def slow_ledger(*args: Any, **kwargs: Any) -> str:
        reached.set()
        assert release.wait(30), "the test never let the storing resolve go on"
        return lasting_id(*args, **kwargs)

    monkeypatch.setattr(register, "_lasting_id", slow_ledger)
    stored_record = _new_person("SLOW-1", "19480000000000097", "Halima Khatun Slow")
    (known, person), *_ = _known(served, 1)
    with ThreadPoolExecutor(1) as pool:
        storing = pool.submit(_resolve, served, stored_record, dry_run=False)
        assert reached.wait(30), storing.result() if storing.done() else "storing never began"
        try:
            dry = _resolve(served, {**known, "record_id": "DRY-WHILE-STORING"})
            assert not storing.done()  # still in its ledger step
        finally:
            release.set()
        stored = storing.result(timeout=60)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["person_id"], dry.json()["stored"]) == (person, None)
    assert stored.status_code == 200, stored.text
    assert stored.json()["stored"] == "new" and PERSON_ID.match(stored.json()["person_id"])
