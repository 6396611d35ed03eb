"""The engine's exceptions: a small tree of precise errors, each message one sentence."""

from __future__ import annotations

# Re-exported: the engine's errors have always been importable from here, root included.
from ekjon.errors import EkjonError as EkjonError


class InvalidValue(EkjonError, ValueError):
    """A field value that cannot be read as what the field holds.

    Normalisers raise it; ingest catches it, keeps the raw value, marks the field invalid and
    reports ``field``, ``value`` and ``reason`` with the row number.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field} {value!r}: {reason}")


class MappingError(EkjonError):
    """A mapping YAML file that does not describe a source correctly."""


class UnreadableRecord(EkjonError, ValueError):
    """A record given by field name (``ekjon match``, the API) with unknown or empty required
    fields."""


class UnreadableRow(EkjonError):
    """A source row that cannot be read as a record at all (quarantined, never half-ingested)."""

    def __init__(self, row_number: int, reason: str) -> None:
        self.row_number = row_number
        self.reason = reason
        super().__init__(f"row {row_number}: {reason}")


class IncrementalError(EkjonError):
    """The incremental resolver cannot do what was asked (a bad saved state, a duplicate record)."""
