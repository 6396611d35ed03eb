"""``POST /v1/resolve`` while ``ekjon resolve`` runs on the same home: a record to store is refused
(503, nothing stored) instead of being given an ID the run would undo; a dry run still answers."""

from __future__ import annotations

from engine.homelock import hold_home
from engine.ingest.store import RecordStore

from .conftest import MIS_SOURCE, Served


def test_a_record_is_not_stored_while_a_resolve_holds_the_home(served: Served) -> None:
    record = {"source": MIS_SOURCE, "record_id": "during-resolve-1", "full_name": "Abdul Karim",
              "date_of_birth": "1950-03-04", "nid": "2612345678901"}  # fmt: skip
    headers = served.headers("mis")
    with RecordStore(served.home.records) as records:
        before = records.counts()

    with hold_home(served.home, "ekjon resolve"):
        stored = served.client.post("/v1/resolve?dry_run=false", json=record, headers=headers)
        dry = served.client.post("/v1/resolve?dry_run=true", json=record, headers=headers)

    assert stored.status_code == 503, stored.text
    assert "Retry-After" in stored.headers
    assert "ekjon resolve (process" in stored.json()["detail"]
    assert "send the record again" in stored.json()["detail"]
    assert dry.status_code == 200, dry.text
    with RecordStore(served.home.records) as records:
        assert records.counts() == before
    # once the run is done, the same record is stored
    again = served.client.post("/v1/resolve?dry_run=false", json=record, headers=headers)
    assert again.status_code == 200, again.text
