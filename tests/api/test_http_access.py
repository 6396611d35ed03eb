"""Who may call what, what analysts see, and the audit log: the HTTP API's guard."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.access import ROLES
from api.app import create_app
from api.cli import app as cli
from api.service import Service, Settings
from engine.home import Home

from .conftest import Served

#: Routes anyone may call.
OPEN = {"/v1/health"}


def _roles_of(route: Any) -> set[str]:
    """The roles a route admits: the scopes of its security dependencies."""
    found: set[str] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        found |= set(dep.own_oauth_scopes or ())
        stack.extend(dep.dependencies)
    return found


def _routes(served: Served) -> list[Any]:
    """Every route of the app with its dependencies (included routers' routes too)."""
    return [
        r
        for r in iter_route_contexts(served.client.app.routes)
        if getattr(r, "dependant", None) is not None
    ]


def _filled(path: str, served: Served) -> str:
    """A route's path with its parameters given real values."""
    person = served.persons["person_id"].iloc[0]
    return (
        path.replace("{person_id}", person)
        .replace("{key_id}", "000000000000")
        .replace("{job_id}", "1")
    )


def test_every_route_declares_its_roles(served: Served) -> None:
    undeclared = [
        f"{sorted(r.methods)} {r.path}"
        for r in _routes(served)
        if r.path.startswith("/v1") and r.path not in OPEN and not _roles_of(r)
    ]
    assert not undeclared, f"routes without a declared role: {undeclared}"
    for route in _routes(served):
        assert _roles_of(route) <= set(ROLES), route.path


def test_the_role_matrix_holds(served: Served) -> None:
    """No key: 401. A key of a role the route does not admit: 403. Checked on every route."""
    checked = 0
    for route in _routes(served):
        if not route.path.startswith("/v1") or route.path in OPEN:
            continue
        path = _filled(route.path, served)
        for method in route.methods:
            response = served.client.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
            for role in set(ROLES) - _roles_of(route):
                response = served.client.request(method, path, headers=served.headers(role))
                assert response.status_code == 403, (role, method, path, response.text)
                assert role in response.json()["detail"]
                checked += 1
    assert checked >= 10


def test_a_revoked_or_forged_key_is_refused(served: Served) -> None:
    access = served.service.access
    made = access.create_key("short-lived", "analyst")
    path = "/v1/persons/" + served.persons["person_id"].iloc[0]
    assert served.client.get(path, headers={"X-API-Key": made.token}).status_code == 200
    forged = made.token[:-4] + ("AAAA" if not made.token.endswith("AAAA") else "BBBB")
    assert served.client.get(path, headers={"X-API-Key": forged}).status_code == 401
    admin = served.headers("admin")
    assert served.client.delete(f"/v1/keys/{made.key.key_id}", headers=admin).status_code == 200
    refused = served.client.get(path, headers={"X-API-Key": made.token})
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def _world_identifiers(world: Path) -> set[str]:
    """Every NID, BRN, phone and wallet number written in the world's source files."""
    found: set[str] = set()
    for path in world.iterdir():
        if path.suffix not in (".csv", ".parquet", ".jsonl"):
            continue
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str)
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path).astype(str)
        else:
            frame = pd.read_json(path, lines=True, dtype=False).astype(str)
        for column in frame.columns:
            name = column.lower()
            if any(w in name for w in ("nid", "brn", "birth_reg", "phone", "mobile", "wallet")):
                values = frame[column].dropna().astype(str)
                found |= {v for v in values if sum(c.isdigit() for c in v) >= 10}
    return found


def _persons_answers(served: Served, headers: dict[str, str]) -> str:
    texts = []
    for person in served.persons["person_id"].drop_duplicates().iloc[:40]:
        for tail in ("", "/programmes", "/neighbourhood"):
            response = served.client.get(f"/v1/persons/{person}{tail}", headers=headers)
            assert response.status_code == 200, response.text
            texts.append(response.text)
    return "\n".join(texts)


def test_analysts_see_identifiers_masked_unless_they_name_a_purpose(served: Served) -> None:
    real = _world_identifiers(served.world)
    assert len(real) > 100
    masked = _persons_answers(served, served.headers("analyst"))
    leaked = sorted(v for v in real if v in masked)
    assert not leaked, f"{len(leaked)} identifiers in masked answers, e.g. {leaked[:3]}"

    before = served.service.access.audit_rows(after=0, limit=100_000)
    purpose = served.headers("analyst", **{"X-Purpose": "fraud_investigation"})
    revealed = _persons_answers(served, purpose)
    assert any(v in revealed for v in real)
    rows = served.service.access.audit_rows(after=before[-1]["seq"] if before else 0)
    assert rows and all(r["purpose"] == "fraud_investigation" and r["revealed"] for r in rows)


def test_an_unknown_purpose_is_refused(served: Served) -> None:
    person = served.persons["person_id"].iloc[0]
    headers = served.headers("analyst", **{"X-Purpose": "curiosity"})
    response = served.client.get(f"/v1/persons/{person}", headers=headers)
    assert response.status_code == 422 and "curiosity" in response.json()["detail"]


def test_every_read_of_a_person_is_audited_before_it_leaves(served: Served) -> None:
    person = served.persons["person_id"].iloc[3]
    before = served.service.access.audit_rows(after=0, limit=100_000)
    served.client.get(f"/v1/persons/{person}/programmes", headers=served.headers("analyst"))
    after = served.service.access.audit_rows(after=before[-1]["seq"] if before else 0)
    assert [(r["route"], r["persons"]) for r in after] == [
        ("GET /v1/persons/{id}/programmes", [person])
    ]


def test_the_audit_log_refuses_changes_and_verify_finds_a_tampered_row(
    served: Served, tmp_path: Path
) -> None:
    served.client.get(
        "/v1/persons/" + served.persons["person_id"].iloc[1], headers=served.headers("analyst")
    )
    db = sqlite3.connect(served.home.api, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET purpose = 'grievance' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit WHERE seq = 1")
    env = {"EKJON_HOME": str(served.home.root)}
    verified = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert verified.exit_code == 0 and "intact" in verified.output

    # someone with the file drops the trigger and rewrites history
    copy = tmp_path / "api.sqlite"
    db.execute("VACUUM INTO ?", (str(copy),))
    db.close()
    tampered = sqlite3.connect(copy)
    tampered.execute("DROP TRIGGER audit_no_update")
    tampered.execute("UPDATE audit SET persons = '[]' WHERE seq = 1")
    tampered.commit()
    tampered.close()
    broken = CliRunner().invoke(cli, ["audit", "verify"], env={"EKJON_HOME": str(tmp_path)})
    assert broken.exit_code == 1 and "row 1" in broken.output


def test_a_body_over_the_limit_is_413(tmp_path: Path) -> None:
    service = Service(Home.of(tmp_path), "embedded", Settings(max_body_bytes=1000)).start()
    admin = service.access.create_key("big", "admin").token
    with TestClient(create_app(service)) as client:
        body = {"name": "x" * 5000, "role": "analyst"}
        response = client.post("/v1/keys", json=body, headers={"X-API-Key": admin})
    assert response.status_code == 413


def test_the_rate_limit_holds_back_one_key_only(tmp_path: Path) -> None:
    service = Service(Home.of(tmp_path), "embedded", Settings(requests_per_minute=3)).start()
    busy = service.access.create_key("busy", "admin").token
    calm = service.access.create_key("calm", "admin").token
    with TestClient(create_app(service)) as client:
        codes = [client.get("/v1/keys", headers={"X-API-Key": busy}).status_code for _ in range(5)]
        other = client.get("/v1/keys", headers={"X-API-Key": calm})
        last = client.get("/v1/keys", headers={"X-API-Key": busy})
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    assert other.status_code == 200
    assert int(last.headers["Retry-After"]) >= 1


def test_a_second_client_of_the_app_leaves_the_service_open_for_the_first(served: Served) -> None:
    # schemathesis (and any tool driving the app in-process) opens the app's lifespan again
    # while the served client holds it: closing the stores then broke every later request
    with TestClient(served.client.app) as inner:
        assert inner.get("/v1/health").status_code == 200
    path = "/v1/persons/" + served.persons["person_id"].iloc[0]
    assert served.client.get(path, headers=served.headers("analyst")).status_code == 200
    made = served.service.access.create_key("after an inner client", "analyst")
    assert served.client.get(path, headers={"X-API-Key": made.token}).status_code == 200


def test_audit_rows_of_concurrent_requests_are_each_committed_before_audit_returns(
    tmp_path: Path,
) -> None:
    import threading

    from api.access import AccessStore

    store = AccessStore(tmp_path / "api.sqlite")
    key = store.create_key("mis", "mis", ["dss"]).key
    seen: list[tuple[int, bool]] = []

    def request(i: int) -> None:
        for j in range(10):
            seq = store.audit(key, "POST /v1/resolve", [f"P{i}-{j}"])
            # another connection: the row is on disk when audit returns
            with sqlite3.connect(tmp_path / "api.sqlite") as other:
                found = other.execute("SELECT persons FROM audit WHERE seq = ?", (seq,)).fetchone()
            seen.append((seq, found == (f'["P{i}-{j}"]',)))

    threads = [threading.Thread(target=request, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 120 and all(ok for _, ok in seen)
    assert sorted(seq for seq, _ in seen) == list(range(1, 121))
    assert store.verify_audit() == (120, None)


def test_an_audit_commit_that_fails_refuses_every_row_of_its_group(tmp_path: Path) -> None:
    import threading

    from api.access import AccessStore

    store = AccessStore(tmp_path / "api.sqlite")
    key = store.create_key("mis", "mis", ["dss"]).key
    store.audit(key, "POST /v1/resolve", ["P0"])
    release = threading.Event()
    original = store._append_audit

    def failing(rows):  # the disk refuses this group's commit
        release.wait(5)
        raise OSError("disk full")

    store._append_audit = failing  # type: ignore[method-assign]
    outcomes: list[str] = []

    def request(i: int) -> None:
        try:
            store.audit(key, "POST /v1/resolve", [f"P{i}"])
            outcomes.append("answered")
        except OSError:
            outcomes.append("refused")

    threads = [threading.Thread(target=request, args=(i,)) for i in range(1, 6)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert outcomes == ["refused"] * 5
    store._append_audit = original  # type: ignore[method-assign]
    store.audit(key, "POST /v1/resolve", ["P9"])
    assert [r["persons"] for r in store.audit_rows()] == [["P0"], ["P9"]]
    assert store.verify_audit() == (2, None)


def test_an_audit_row_and_the_answers_it_keeps_are_one_commit(tmp_path: Path) -> None:
    from api.access import AccessStore

    store = AccessStore(tmp_path / "api.sqlite")
    key = store.create_key("mis", "mis", ["dss"]).key
    commits = 0
    transaction = store.transaction

    def counted():  # each write transaction is one commit (one sync of the file)
        nonlocal commits
        commits += 1
        return transaction()

    store.transaction = counted  # type: ignore[method-assign]
    answers = [("k-1", "body", 200, '{"person_id": "P1"}'), ("record:dss/1", "body", 200, "{}")]
    seq = store.audit(key, "POST /v1/resolve", ["P1"], answers=answers)
    assert commits == 1
    # another connection sees the row and both answers once audit returns
    with sqlite3.connect(tmp_path / "api.sqlite") as other:
        assert other.execute("SELECT seq FROM audit").fetchall() == [(seq,)]
        kept = other.execute("SELECT idempotency_key, answer FROM idempotency ORDER BY 1")
        assert kept.fetchall() == [("k-1", '{"person_id": "P1"}'), ("record:dss/1", "{}")]
    # the first answer to a key stays
    store.audit(key, "POST /v1/resolve", ["P1"], answers=[("k-1", "body", 200, "later")])
    assert store.answer_for(key.key_id, "k-1") == ("body", 200, '{"person_id": "P1"}')
    assert store.verify_audit() == (2, None)


def test_a_storing_answer_that_cannot_be_kept_leaves_no_audit_row_and_is_no_500(
    served: Served,
) -> None:
    from .test_http_resolve import _new_person, _resolve

    before = len(served.service.access.audit_rows(limit=100_000))
    with sqlite3.connect(served.home.api) as db:  # the disk refuses the kept answer
        db.execute(
            "CREATE TRIGGER no_room BEFORE INSERT ON idempotency "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    try:
        refused = _resolve(
            served,
            _new_person("UNKEPT-1", "19480000000000563", "Kulsum Begum Unkept"),
            dry_run=False,
        )
    finally:
        with sqlite3.connect(served.home.api) as db:
            db.execute("DROP TRIGGER no_room")
    assert refused.status_code == 503, refused.text
    assert "nothing was answered" in refused.json()["detail"]
    # no row says persons were sent to the caller: nothing was
    assert len(served.service.access.audit_rows(limit=100_000)) == before
    assert served.service.access.verify_audit()[1] is None
