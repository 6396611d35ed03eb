"""Shapes of ``POST /v1/resolve``: one record in, where it belongs out.

The record's fields are the canonical record's (:data:`engine.record.FIELD_KINDS`), so the request
shape follows the record: a field added there is accepted here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from engine.record import FIELD_KINDS, REQUIRED_FIELDS

Value = str | int | float | None

_EXAMPLE: dict[str, Any] = {
    "source": "dss_old_age",
    "record_id": "OA100000001",
    "full_name": "Md. Abdul Karim",
    "father_name": "Abdul Jalil",
    "gender": "Male",
    "date_of_birth": "1950-03-14",
    "nid": "1950261234567",
    "phone": "01711000001",
    "district": "Chuadanga",
    "programme": "old_age_allowance",
    "status": "Active",
    "since": "2025-01-01",
    "amount": 600,
}


def _field(name: str, kind: str) -> tuple[Any, Any]:
    if name in REQUIRED_FIELDS:
        return (str, Field(min_length=1, max_length=200, pattern=r"\S", description=f"({kind})"))
    return (Value, Field(default=None, description=f"({kind}), as the source gives it"))


ResolveRecord = create_model(  # type: ignore[call-overload]
    "ResolveRecord",
    __config__=ConfigDict(
        extra="forbid",
        coerce_numbers_to_str=True,  # a record_id of 12345 is the record "12345"
        json_schema_extra={"examples": [_EXAMPLE]},
    ),
    __doc__="One record by canonical field name (docs/mapping.md lists them), values as the "
    "source gives them: they are cleaned as ingest cleans them. Only source and record_id are "
    "required; an unknown field is refused.",
    **{name: _field(name, kind) for name, kind in FIELD_KINDS.items()},
)


class Reason(BaseModel):
    """One feature of the compared pair: what it says, and how much it moved the score."""

    feature: str
    meaning: str = Field(examples=["same NID card"])
    contribution: float | None = Field(description="Log-odds added (negative: against a link).")


class Candidate(BaseModel):
    """A person the record was compared with: person ID, probabilities and words only."""

    person_id: str
    probability: float = Field(description="The best pair's probability.")
    average_probability: float | None = Field(
        description="The clustering's evidence: the average log-odds over the informative pairs, "
        "as a probability."
    )
    strong_link: bool
    cannot_link: bool
    joins: bool = Field(description="The record joins this person.")
    reasons: list[Reason] = Field(
        description="For the person whose best pair was explained: the features for and "
        "against, strongest first (empty for the others)."
    )
    cannot_link_reasons: list[str]


class Enrolment(BaseModel):
    """One programme the person receives, from any MIS."""

    programme: str
    programme_name: str | None = None
    cash: bool | None = None
    status: str | None = None
    since: str | None = None
    amount: float | None = None
    source: str | None = None
    record_id: str | None = Field(
        default=None, description="The enrolment's record key, for the caller's own sources only."
    )


class Finding(BaseModel):
    """A double-dipping rule this enrolment breaks (with the person's other enrolments)."""

    rule: Literal["cash_cap", "exclusive_pair", "one_per_household", "duplicate_enrolment"]
    programmes: list[str]
    detail: str
    policy: str = Field(examples=["double_dipping-v1"])


class FieldWarning(BaseModel):
    """A field that could not be read: left out of matching (and stored as invalid)."""

    field: str
    reason: str


class ResolveAnswer(BaseModel):
    """Where the record belongs, why, and what it means for the person's programmes."""

    request_id: str
    record: str = Field(description="The record's key, source/record_id.")
    dry_run: bool
    person_id: str | None = Field(
        description="The person: an existing one, or (stored) the new person's ID; null for a "
        "new person in a dry run."
    )
    outcome: Literal["matched", "new", "review"]
    review_reasons: list[str]
    probability: float = Field(
        description="The decision's probability: the chosen person's evidence, or for a new "
        "person the best candidate's."
    )
    decided_by: str = Field(description="'average link' or 'linkage' (contested links).")
    stored: Literal["new", "new version", "unchanged"] | None = Field(
        description="What the record store did (null in a dry run)."
    )
    candidates: list[Candidate]
    enrolments: list[Enrolment] = Field(
        description="The person's current programmes across every MIS, from the graph."
    )
    findings: list[Finding]
    policy: str
    model_version: str | None
    warnings: list[FieldWarning]
    timings: dict[str, float] = Field(description="Milliseconds per step.")
