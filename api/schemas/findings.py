"""Shapes of ``/v1/findings/...`` and ``/v1/identifiers/search``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page


class PolicyPage(Page):
    """A page of findings judged under a versioned policy."""

    policy_version: str = Field(
        description="The policy the findings were judged under (name-vN).",
        examples=["double_dipping-v1"],
    )


class ReferencePage(Page):
    """A page of reference-registry findings."""

    skipped: list[str] = Field(
        description="Checks not run because their registry (EC, BTRC, MFS KYC, BDRIS) is not in "
        "the graph."
    )


class IdentifierSearch(BaseModel):
    """An identifier to look up, sent in the body so it stays out of URLs and access logs."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["nid", "brn", "phone", "wallet"]
    value: str = Field(
        min_length=1,
        max_length=64,
        description="As written anywhere: Bangla digits, spaces, dashes and +880 are fine; a "
        "wallet as provider:number (a bare number is looked up with every mobile wallet).",
        examples=["+880 1711-000001"],
    )


class Holder(BaseModel):
    """A person holding the identifier, and the records of theirs that give it."""

    person_id: str = Field(
        description="The person ID (record:<key> for a record resolution left alone)."
    )
    records: list[dict[str, Any]] = Field(
        description="record_id, source, kind, programme, status, full_name, district."
    )


class Holders(BaseModel):
    """Who holds an identifier."""

    type: str
    identifier: str = Field(description="The cleaned value (masked unless a purpose is named).")
    nodes: list[str] = Field(description="The graph's identifier nodes it matched (Label:id).")
    persons: list[Holder]
