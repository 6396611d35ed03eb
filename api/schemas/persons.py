"""Shapes of ``/v1/persons/...``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PersonRecords(BaseModel):
    """A person: the records filed under them and their households."""

    person_id: str = Field(examples=["P0000000013"])
    records: list[dict[str, Any]] = Field(
        description="Each record's canonical fields (identifiers masked unless a purpose is named)."
    )
    households: list[str]


class Programmes(BaseModel):
    """Every programme the person receives, across every MIS."""

    person_id: str
    enrolments: list[dict[str, Any]] = Field(
        description="programme, programme_name, cash, status, since, amount, source, record_id, "
        "and tie (the weakest scored link joining this enrolment to the person's others)."
    )


class Neighbourhood(BaseModel):
    """The nodes within ``depth`` edges of the person, and the edges among them."""

    person_id: str
    nodes: list[dict[str, Any]] = Field(description="key (Label:id), label, id, depth, props.")
    edges: list[dict[str, Any]] = Field(description="source, target (node keys), type, props.")
    truncated: bool = Field(description="The node limit cut the walk short.")


class History(BaseModel):
    """What the identity ledger knows of an ID, and its events (merges, splits, ...)."""

    id: dict[str, Any]
    events: list[dict[str, Any]]
