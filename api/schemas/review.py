"""Shapes of ``/v1/explain`` and ``/v1/decisions``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page


class FeatureRow(BaseModel):
    feature: str
    value: float | None
    contribution: float | None = Field(description="Log-odds this feature adds (null: unknown).")
    meaning: str


class SidePersons(BaseModel):
    """The person each record is filed under (null: not in the graph)."""

    left: str | None
    right: str | None


class Explanation(BaseModel):
    """Why two records score as they do, feature by feature."""

    left: str
    right: str
    persons: SidePersons
    probability: float | None
    log_odds: float | None
    score: float | None
    bias: float | None
    rows: list[FeatureRow] = Field(description="Largest contribution (either sign) first.")
    cannot_link: list[str]
    links: bool = Field(description="Whether the pair alone would link.")
    threshold: float | None
    note: str | None
    model_version: str | None
    text: str = Field(description="The same, as a short report for an auditor.")


class DecisionRequest(BaseModel):
    """A reviewer's decision about two records."""

    model_config = ConfigDict(extra="forbid")

    a: str = Field(min_length=1, max_length=200, examples=["dss_old_age/OA946857565"])
    b: str = Field(min_length=1, max_length=200, examples=["dss_widow/WA-45773803"])
    verdict: Literal["same", "not_same"]
    reason: str = Field(min_length=1, max_length=2000, examples=["One NID card, one face."])


class Decision(BaseModel):
    """A decision kept: it binds every later resolve until another replaces it."""

    decision_id: int
    a: str
    b: str
    verdict: str
    reviewer: str
    reason: str
    decided_at: str
    checked: bool = Field(
        description="Whether the records were checked against the stores (false before any "
        "ingest or resolve)."
    )


class DecisionPage(Page):
    """A page of the decisions in force."""
