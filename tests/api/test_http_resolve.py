"""``POST /v1/resolve`` as an MIS calls it: a record resolved (dry run) or stored, once, for its own
sources, with nothing of any other person in the answer."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.service import Service
from engine.errors import UnreadableRecord
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


def _held_ledger(monkeypatch: Any, seconds: float) -> tuple[threading.Event, threading.Event]:
    """Hold each storing group at its ledger run until the test lets it go: ``reached`` is set
    when a group gets there, and the group waits (up to ``seconds``) until ``release`` is set;
    once it is, the ledger runs at once."""
    import engine.incremental.register as register

    reached, release = threading.Event(), threading.Event()
    lasting_ids = register._lasting_ids

    def held(*args: Any, **kwargs: Any) -> dict[str, str]:
        if not release.is_set():
            reached.set()
            assert release.wait(seconds), "the test never let the held group go on"
        return lasting_ids(*args, **kwargs)

    monkeypatch.setattr(register, "_lasting_ids", held)
    return reached, release


def test_a_dry_run_answers_while_a_record_is_being_stored(served: Served, monkeypatch) -> None:
    """A storing resolve holds the write lock from its score to its publish; a dry run writes
    nothing and does not wait for it."""
    reached, release = _held_ledger(monkeypatch, 30)
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


class _Held:
    """The first group's publish held until :meth:`go`, so that storing requests sent meanwhile
    wait and are published together as the next group."""

    def __init__(self, served: Served, monkeypatch: Any) -> None:
        import engine.incremental.register as register

        self.publishes = served.service.publishes
        self.reached, self.release = threading.Event(), threading.Event()
        together = register._publish_together

        def held(*args: Any, **kwargs: Any) -> None:
            if not self.release.is_set():
                self.reached.set()
                assert self.release.wait(30), "the test never let the first publish go on"
            together(*args, **kwargs)

        monkeypatch.setattr(register, "_publish_together", held)

    def waiting(self, n: int) -> None:
        """Until ``n`` kept records wait for the next group."""
        import time

        deadline = time.monotonic() + 30
        while self.publishes.waiting < n:
            assert time.monotonic() < deadline, f"{self.publishes.waiting} waiting, not {n}"
            time.sleep(0.01)

    def go(self) -> None:
        self.release.set()


def _members(prefix: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        _new_person(f"{prefix}-{i}", f"19{40 + len(prefix)}000000000{i:04d}", f"{prefix} {name}")
        for i, name in enumerate(names)
    ]


def test_a_group_of_storing_requests_fails_only_its_bad_record(
    served: Served, monkeypatch: Any
) -> None:
    """Requests that arrive while a group publishes are stored and published together; a record
    refused (422, naming its field) fails alone."""
    held = _Held(served, monkeypatch)
    good = _members("GROUP", ("Amena", "Bilkis", "Chanda"))
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(_resolve, served, good[0], dry_run=False)
        assert held.reached.wait(30), first.result() if first.done() else "no publish began"
        rest = [pool.submit(_resolve, served, r, dry_run=False) for r in good[1:]]
        bad = pool.submit(
            _resolve, served, {**good[1], "record_id": "GROUP-BAD", "nickname": "X"}, dry_run=False
        )
        held.waiting(2)
        groups = held.publishes.groups
        held.go()
        answers = [first.result(60), *(f.result(60) for f in rest)]
        refused = bad.result(60)
    assert held.publishes.groups == groups + 2  # the first alone, then the two together
    assert refused.status_code == 422
    assert ("body", "nickname") in {tuple(e["loc"]) for e in refused.json()["detail"]}
    assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
    with served.service.graph() as graph:
        for i, answer in enumerate(answers):
            person = answer.json()["person_id"]
            assert (
                graph.node("Record", f"{MIS_SOURCE}/GROUP-{i}")["full_name"]
                == (good[i]["full_name"])
            )
            assert {n.props["id"] for n in graph.neighbours("Person", person, "OF", "in")} == {
                f"{MIS_SOURCE}/GROUP-{i}"
            }
        assert graph.node("Record", f"{MIS_SOURCE}/GROUP-BAD") is None


def test_a_record_whose_publish_fails_in_a_group_is_the_only_one_left_unpublished(
    served: Served, monkeypatch: Any
) -> None:
    """The group's publish fails (a full disk for one record's rows): each record is published
    again alone, so only that one stays unfinished; readers are refused until it is sent again."""
    from graph.store import StoreWriteFailed

    held = _Held(served, monkeypatch)
    store = served.service.store
    merge_nodes = store.merge_nodes
    records = _members("FULL", ("Dilruba", "Ferdousi", "Gulshan"))
    broken = f"{MIS_SOURCE}/FULL-2"

    def full_disk_for_one(label: str, rows: Any) -> int:
        rows = list(rows)
        if label == "Record" and any(r["id"] == broken for r in rows):
            raise StoreWriteFailed("Could not write to journal-00000000.ekj: No space left")
        return merge_nodes(label, rows)

    monkeypatch.setattr(store, "merge_nodes", full_disk_for_one)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(
            _resolve, served, _new_person("FULL-X", "19330000000000001", "Before"), dry_run=False
        )
        assert held.reached.wait(30)
        sent = [pool.submit(_resolve, served, r, dry_run=False) for r in records]
        held.waiting(3)
        held.go()
        assert first.result(60).status_code == 200
        answers = [f.result(60) for f in sent]
    assert [a.status_code for a in answers] == [503] * 3  # the graph holds an unfinished publish
    assert "No space left" in answers[2].json()["detail"]
    with served.service.graph(check=False) as graph:
        [unfinished] = graph.publish_state().unfinished
        assert unfinished.run.startswith(f"one record of {MIS_SOURCE}")
        assert graph.node("Record", f"{MIS_SOURCE}/FULL-0") is not None
        assert graph.node("Record", f"{MIS_SOURCE}/FULL-1") is not None
    monkeypatch.setattr(store, "merge_nodes", merge_nodes)  # space again
    healed = _resolve(served, records[2], dry_run=False)
    assert healed.status_code == 200, healed.text
    again = [_resolve(served, r, dry_run=False) for r in records[:2]]
    assert [a.status_code for a in again] == [200, 200]
    analyst = served.headers("analyst")
    assert served.client.get("/v1/findings/suspicious", headers=analyst).status_code == 200


def test_two_records_of_one_new_person_in_one_group_make_one_person(
    served: Served, monkeypatch: Any
) -> None:
    held = _Held(served, monkeypatch)
    record = _new_person("", "19460000000000077", "Nurjahan Begum Grouped")
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(
            _resolve,
            served,
            _new_person("GROUPED-0", "19460000000000084", "Other One"),
            dry_run=False,
        )
        assert held.reached.wait(30)
        pair = [
            pool.submit(
                _resolve,
                served,
                {**record, "record_id": f"GROUPED-{i}", "household_id": f"HG-{i}"},
                dry_run=False,
            )
            for i in (1, 2)
        ]
        held.waiting(2)
        held.go()
        assert first.result(60).status_code == 200
        answers = [f.result(60).json() for f in pair]
    assert {a["person_id"] for a in answers} == {answers[0]["person_id"]}, answers
    assert [a["outcome"] for a in answers].count("new") == 1
    person = answers[0]["person_id"]
    with served.service.graph() as graph:
        assert len(graph.neighbours("Person", person, "OF", "in")) == 2
        # as one at a time: the person is made of its first record, in that record's household
        assert graph.node("Person", person)["records"] == 1
        [home] = graph.neighbours("Person", person, "MEMBER_OF")
    first_sent = min(answers, key=lambda a: a["outcome"] != "new")["record"]
    assert home.props["id"] == f"{MIS_SOURCE}/HG-{first_sent[-1]}"


def test_two_equal_requests_in_one_group_get_one_answer(served: Served, monkeypatch: Any) -> None:
    held = _Held(served, monkeypatch)
    record = _new_person("TWICE-1", "19450000000000012", "Saleha Twice")
    key = {"Idempotency-Key": "twice-1"}
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(
            _resolve, served, _new_person("TWICE-0", "19450000000000029", "Another"), dry_run=False
        )
        assert held.reached.wait(30)
        twice = [pool.submit(_resolve, served, record, dry_run=False, **key) for _ in range(2)]
        held.waiting(1)
        other = pool.submit(
            _resolve, served, {**record, "record_id": "TWICE-2"}, dry_run=False, **key
        )
        held.go()
        assert first.result(60).status_code == 200
        answers = [f.result(60) for f in twice]
        refused = other.result(60)
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert refused.status_code == 422 and "twice-1" in refused.json()["detail"]
    with RecordStore(served.home.records) as records:
        assert len(records.history(MIS_SOURCE, "TWICE-1")) == 1
        assert records.history(MIS_SOURCE, "TWICE-2") == []


def test_records_sent_while_a_group_is_kept_are_kept_together_and_a_bad_one_fails_alone(
    served: Served, monkeypatch: Any
) -> None:
    """Storing requests that arrive while a group is stored and identified go together as the
    next group, with one ledger run: two records of one new person in it make one person, whom
    the resolver then knows under that ID; a record the store refuses fails alone (422)."""
    import time

    reached, release = _held_ledger(monkeypatch, 30)
    records, _ = served.service.record_stores()
    write_chunk = records._write_chunk

    def refused_one(run: Any, batch: Any, **kwargs: Any) -> Any:
        if batch.record_ids == ["KEPT-BAD"]:
            raise UnreadableRecord("record KEPT-BAD: field 'nid' cannot be stored")
        return write_chunk(run, batch, **kwargs)

    monkeypatch.setattr(records, "_write_chunk", refused_one)
    keeps = served.service.keeps
    record = _new_person("", "19470000000000031", "Rokeya Begum Together")
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(
            _resolve, served, _new_person("KEPT-0", "19470000000000048", "Other"), dry_run=False
        )
        assert reached.wait(30), first.result() if first.done() else "no group began"
        pair = [
            pool.submit(_resolve, served, {**record, "record_id": f"KEPT-{i}"}, dry_run=False)
            for i in (1, 2)
        ]
        bad = pool.submit(_resolve, served, {**record, "record_id": "KEPT-BAD"}, dry_run=False)
        deadline = time.monotonic() + 30
        while keeps.waiting < 3:
            assert time.monotonic() < deadline, f"{keeps.waiting} waiting, not 3"
            time.sleep(0.01)
        groups = keeps.groups
        release.set()
        assert first.result(60).status_code == 200
        answers = [f.result(60) for f in pair]
        refused = bad.result(60)
    assert keeps.groups == groups + 2  # the first alone, then the three together
    assert refused.status_code == 422 and "KEPT-BAD" in refused.text, refused.text
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    person = answers[0].json()["person_id"]
    assert PERSON_ID.match(person) and answers[1].json()["person_id"] == person
    assert [a.json()["outcome"] for a in answers].count("new") == 1
    with IdentityLedger(served.home.ledger) as ledger:
        assert sorted(ledger.members_of(person)) == [f"{MIS_SOURCE}/KEPT-1", f"{MIS_SOURCE}/KEPT-2"]
        runs = ledger.runs("person")
        assert runs.iloc[-1]["members"] == 2  # one run for the group's two records
    with RecordStore(served.home.records) as stored:
        assert stored.history(MIS_SOURCE, "KEPT-BAD") == []
        assert [len(stored.history(MIS_SOURCE, f"KEPT-{i}")) for i in (1, 2)] == [1, 1]
    third = _resolve(served, {**record, "record_id": "KEPT-3"})
    assert third.json()["person_id"] == person  # the resolver files them under the lasting ID
    with served.service.graph() as graph:
        assert {n.props["id"] for n in graph.neighbours("Person", person, "OF", "in")} == {
            f"{MIS_SOURCE}/KEPT-1",
            f"{MIS_SOURCE}/KEPT-2",
        }


def test_more_storing_requests_than_the_shared_threads_make_one_group_and_dry_runs_go_on(
    served: Served, monkeypatch: Any
) -> None:
    """Storing requests wait in threads of their own: while a group is kept, more of them than
    the 40 threads the other routes share wait together for the next group, and a dry run is
    answered meanwhile."""
    import time

    reached, release = _held_ledger(monkeypatch, 60)
    keeps = served.service.keeps
    many = 45
    (known, person), *_ = _known(served, 1)
    with ThreadPoolExecutor(many + 2) as pool:  # the first, the many, the dry run
        first = pool.submit(
            _resolve,
            served,
            _new_person("MANY-0", "19490000000700000", "Many First"),
            dry_run=False,
        )
        try:
            assert reached.wait(30), first.result() if first.done() else "no group began"
            sent = [
                pool.submit(
                    _resolve,
                    served,
                    {
                        **_new_person(f"MANY-{i}", f"194900000007{i:05d}", f"Many Person {i}"),
                        "phone": f"01719{i:06d}",  # no other test's phone
                    },
                    dry_run=False,
                )
                for i in range(1, many + 1)
            ]
            deadline = time.monotonic() + 60
            while keeps.waiting < many:
                assert time.monotonic() < deadline, f"{keeps.waiting} waiting, not {many}"
                time.sleep(0.01)
            groups = keeps.groups
            dry = pool.submit(_resolve, served, {**known, "record_id": "DRY-WHILE-MANY"})
            answered = dry.result(30)  # not held up by the storing requests
            assert not first.done()
        finally:
            release.set()
        assert first.result(120).status_code == 200
        answers = [f.result(120) for f in sent]
    assert answered.status_code == 200 and answered.json()["person_id"] == person
    assert [a.status_code for a in answers] == [200] * many, [a.text for a in answers][:3]
    assert keeps.groups == groups + 2  # the first alone, then the 45 together
    assert all(PERSON_ID.match(a.json()["person_id"]) for a in answers)
