"""Cleaning a chunk's columns as ingest does (:mod:`engine.ingest.run`): each field over its
distinct raw values, with the mapping's constants, joined columns, extra identifiers, ages read
from a date of birth column and gendered relations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from engine.errors import InvalidValue, MappingError
from engine.ingest.batches import VALUE_FIELDS
from engine.ingest.mapping import COLUMNS_SEPARATOR, FieldSpec, Mapping
from engine.ingest.readers import DEFAULT_CHUNK_ROWS, Chunk
from engine.normalise import clean, is_missing
from engine.normalise.dates import age_from_date_column
from engine.normalise.fields import (
    GENDERED_RELATIONS,
    clean_as_given,
    quick_cleaner,
    relation_for_gender,
)
from engine.normalise.identifiers import clean_identifier, identifiers_text

logger = logging.getLogger(__name__)

#: the field a mapping's extra identifiers are stored in
IDENTIFIERS: Final = "identifiers"
_CACHE_LIMIT: Final = 200_000
#: every field's cleaned values are kept for this many rows of a file; after them only the
#: fields whose values repeat (at most one distinct value in two rows)
_CACHE_TRIAL_ROWS: Final = DEFAULT_CHUNK_ROWS


def joined_cells(
    columns: list[list[str | None]], keep: list[int], everything: bool = False
) -> list[str | None]:
    """The cells of several columns joined row by row into one raw value (a mapping's
    ``columns``): the cells that hold something (not blank, not a "nothing" marker such as
    ``N/A``: :func:`engine.normalise.is_missing`), stripped, in column order, with one space
    between; ``None`` where no cell holds anything.

    Example
    -------
    >>> joined_cells([["Abdul", None, "-"], ["Karim", "Begum", " "]], [0, 1, 2], everything=True)
    ['Abdul Karim', 'Begum', None]
    """
    rows = range(len(columns[0])) if everything else keep
    out: list[str | None] = []
    for i in rows:
        parts = [
            cell.strip()
            for column in columns
            if (cell := column[i]) is not None and not is_missing(cell)
        ]
        out.append(COLUMNS_SEPARATOR.join(parts) or None)
    return out


class Cleaner:
    """Cleans a chunk's columns field by field, over unique raw values.

    Each field keeps a cache of what its raw values cleaned to, across chunks, as long as its
    values repeat (names, districts, dates); a field whose values hardly repeat in the file's
    first rows (NIDs, phones) only cleans each chunk's unique values after them, so memory stays
    flat. (Told by the file's first 20,000 rows, not by each chunk's: a file is read in chunks
    of 1,000 rows too, where little repeats.)
    """

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.column_specs: list[FieldSpec] = [
            mapping.fields[f]
            for f in VALUE_FIELDS
            if f in mapping.fields and mapping.fields[f].source_columns
        ]
        self.constants: dict[str, Any] = {"kind": mapping.kind}
        for name, spec in mapping.fields.items():
            if spec.value is not None:
                self.constants[name] = self._clean_constant(spec)
        self._cleaned: dict[str, dict[Any, Any]] = {}
        self._invalid: dict[str, dict[Any, str]] = {}
        self._as_given_tests: dict[str, Callable[[str], bool] | None] = {}
        self._quick_cleaners: dict[str, Callable[[str], Any] | None] = {}
        self._rows_cleaned = 0
        self._uncached: set[str] | None = None  # fields cleaned chunk by chunk, once known
        self._account_tests: dict[Any, Callable[[str], bool] | None] = {}

    def _clean_constant(self, spec: FieldSpec) -> Any:
        hints = spec.hints()
        if spec.field == "account_number":
            hints["provider"] = self.constants.get("account_provider")
        try:
            return clean(spec.kind, spec.value, **hints)
        except InvalidValue as exc:
            where = self.mapping.path or f"mapping of {self.mapping.source!r}"
            raise MappingError(
                f"{where}: fields.{spec.field}.value: {exc.reason} (got {spec.value!r})."
            ) from None

    def clean_chunk(
        self, chunk: Chunk, keep: list[int]
    ) -> tuple[list[list[Any]], dict[str, list[str | None]], dict[str, list[str | None]]]:
        """Clean the kept rows of a chunk.

        Returns
        -------
        cleaned : one list per field of :data:`VALUE_FIELDS`, aligned with ``keep``.
        raw : column-fed field -> its raw strings (in :data:`VALUE_FIELDS` order); with the
            mapping's ``identifiers``, also ``identifiers`` (the row's ``name=raw`` pairs) and
            ``identifiers.<name>`` (each identifier's raw cells, for its warnings).
        invalid : field -> per-row reason (``None`` where the value is fine), for fields with any;
            an extra identifier that cannot be read is ``identifiers.<name>`` (the others are kept).
        """
        n = len(keep)
        everything = n == len(chunk.rows)
        by_field: dict[str, list[Any]] = {}
        raw: dict[str, list[str | None]] = {}
        invalid: dict[str, list[str | None]] = {}
        for spec in self.column_specs:
            if spec.columns is not None:
                values = joined_cells([chunk.columns[c] for c in spec.columns], keep, everything)
            else:
                column = chunk.columns[spec.column]  # type: ignore[index]
                values = column if everything else [column[i] for i in keep]
            raw[spec.field] = values
            if spec.default is not None:
                values = [spec.default if v is None else v for v in values]
            if spec.field == "account_number":
                providers = by_field.get("account_provider") or (
                    [self.constants.get("account_provider")] * n
                )
                keys: list[Any] = list(zip(providers, values, strict=True))
            else:
                keys = values
            cleaned, bad = self._clean_unique(spec, keys)
            by_field[spec.field] = list(map(cleaned.__getitem__, keys))
            if bad:
                invalid[spec.field] = list(map(bad.get, keys))

        age = self.mapping.fields.get("age")
        if age is not None and age.as_of is not None and "age" in by_field:
            by_field["age_as_of"] = [None if a is None else age.as_of for a in by_field["age"]]
        dob = self.mapping.fields.get("date_of_birth")
        if dob is not None and dob.age_as_of is not None and "date_of_birth" in by_field:
            self._ages_from_dates(by_field, dob.age_as_of, n)
        self._gendered_relations(by_field, n)
        if self.mapping.identifiers:
            self._clean_identifiers(chunk, keep, everything, by_field, raw, invalid)

        cleaned_columns = [
            by_field[name] if name in by_field else [self.constants.get(name)] * n
            for name in VALUE_FIELDS
        ]
        self._rows_cleaned += n
        if self._uncached is None and self._rows_cleaned >= _CACHE_TRIAL_ROWS:
            # the fields whose values hardly repeat: no cache from here on
            half = self._rows_cleaned // 2
            self._uncached = {f for f, cache in self._cleaned.items() if len(cache) > half}
            for field in self._uncached:
                del self._cleaned[field], self._invalid[field]
        return cleaned_columns, raw, invalid

    def _clean_identifiers(
        self,
        chunk: Chunk,
        keep: list[int],
        everything: bool,
        by_field: dict[str, list[Any]],
        raw: dict[str, list[str | None]],
        invalid: dict[str, list[str | None]],
    ) -> None:
        """The mapping's extra identifiers, each column cleaned over its distinct values
        (:func:`engine.normalise.identifiers.clean_identifier`) and the row's good ones joined
        into its ``identifiers`` text (:func:`~engine.normalise.identifiers.identifiers_text`)."""
        n = len(keep)
        rows: list[dict[str, str | None]] = [{} for _ in range(n)]
        raw_rows: list[dict[str, str | None]] = [{} for _ in range(n)]
        for name, column_name in sorted(self.mapping.identifiers.items()):
            column = chunk.columns[column_name]
            values = column if everything else [column[i] for i in keep]
            field = f"{IDENTIFIERS}.{name}"
            raw[field] = values
            nested = chunk.nested.get(column_name, {})
            reasons: list[str | None] = [None] * n
            cache: dict[str, tuple[str | None, str | None]] = {}
            for j, value in enumerate(values):
                if value is None:
                    continue
                raw_rows[j][name] = value
                row = j if everything else keep[j]
                if row in nested:
                    reasons[j] = f"{nested[row]}, not one value (column {column_name!r})"
                    continue
                if value not in cache:
                    try:
                        cleaned = None if is_missing(value) else clean_identifier(value, field)
                        cache[value] = (cleaned, None)
                    except InvalidValue as problem:
                        cache[value] = (None, problem.reason)
                rows[j][name], reasons[j] = cache[value]
            if any(r is not None for r in reasons):
                invalid[field] = reasons
        by_field[IDENTIFIERS] = [identifiers_text(row) for row in rows]
        raw[IDENTIFIERS] = [identifiers_text(row) for row in raw_rows]

    def _gendered_relations(self, by_field: dict[str, list[Any]], n: int) -> None:
        """Split the gender-free relations (``child``, ``parent``, ...) by each row's gender
        (:func:`engine.normalise.fields.relation_for_gender`)."""
        relations = by_field.get("relation_to_head") or [self.constants.get("relation_to_head")] * n
        if GENDERED_RELATIONS.keys().isdisjoint(relations):
            return
        genders = by_field.get("gender") or [self.constants.get("gender")] * n
        by_field["relation_to_head"] = list(map(relation_for_gender, relations, genders))

    def _ages_from_dates(self, by_field: dict[str, list[Any]], as_of: str, n: int) -> None:
        """Move the ages a date of birth column gave (ints, read with the mapping's
        ``age_as_of``) into the record's ``age`` and ``age_as_of``, unless the row has its own
        age (:func:`engine.normalise.dates.age_from_date_column`)."""
        dates = by_field["date_of_birth"]
        if not any(isinstance(v, int) for v in dates):
            return
        ages = by_field.get("age") or [self.constants.get("age")] * n
        as_ofs = by_field.get("age_as_of") or [self.constants.get("age_as_of")] * n
        pairs = [
            age_from_date_column(a, d, v, as_of) if isinstance(v, int) else (a, d)
            for a, d, v in zip(ages, as_ofs, dates, strict=True)
        ]
        by_field["age"] = [a for a, _ in pairs]
        by_field["age_as_of"] = [d for _, d in pairs]
        by_field["date_of_birth"] = [None if isinstance(v, int) else v for v in dates]

    def _as_given(self, spec: FieldSpec) -> Callable[[str], bool] | None:
        if spec.field not in self._as_given_tests:
            self._as_given_tests[spec.field] = clean_as_given(spec.kind, **spec.hints())
        return self._as_given_tests[spec.field]

    def _quick(self, spec: FieldSpec) -> Callable[[str], Any] | None:
        if spec.field not in self._quick_cleaners:
            self._quick_cleaners[spec.field] = quick_cleaner(spec.kind, **spec.hints())
        return self._quick_cleaners[spec.field]

    def _account_as_given(self, spec: FieldSpec, provider: Any) -> Callable[[str], bool] | None:
        tests = self._account_tests
        if provider not in tests:
            tests[provider] = clean_as_given(spec.kind, **{**spec.hints(), "provider": provider})
        return tests[provider]

    def _clean_unique(
        self, spec: FieldSpec, keys: list[Any]
    ) -> tuple[dict[Any, Any], dict[Any, str]]:
        """What each distinct key cleans to, and the reasons of those that are invalid."""
        unique = set(keys)
        repeats = self._uncached is None or spec.field not in self._uncached
        if repeats:
            cleaned = self._cleaned.setdefault(spec.field, {})
            bad = self._invalid.setdefault(spec.field, {})
            if len(cleaned) > _CACHE_LIMIT:
                cleaned.clear()
                bad.clear()
            todo = unique.difference(cleaned)
        else:
            cleaned, bad, todo = {}, {}, unique
        hints = spec.hints()
        # most values are clean already (digits of a valid length, codes, plain names, wallet
        # numbers): kept as they are, only the others cleaned one by one
        if spec.field == "account_number":  # keys (provider, number): the test is the provider's
            given = [
                key
                for key in todo
                if key[1] is not None
                and (as_given := self._account_as_given(spec, key[0])) is not None
                and as_given(key[1])
            ]
            cleaned.update((key, key[1]) for key in given)
        else:
            as_given = self._as_given(spec)
            given = [] if as_given is None else [k for k in todo if k is not None and as_given(k)]
            cleaned.update(zip(given, given, strict=True))
        if given:
            todo = todo.difference(given)
        quick = None if spec.field == "account_number" else self._quick(spec)
        if quick is not None:  # dates of a fixed width: read without clean's every step
            read = [
                (key, value)
                for key in todo
                if isinstance(key, str) and (value := quick(key)) is not None
            ]
            if read:
                cleaned.update(read)
                todo = todo.difference(key for key, _ in read)
        for key in todo:
            if spec.field == "account_number":
                provider, raw_value = key
                call_hints = {**hints, "provider": provider}
            else:
                raw_value, call_hints = key, hints
            if raw_value is None:
                cleaned[key] = None
                continue
            try:
                cleaned[key] = clean(spec.kind, raw_value, **call_hints)
            except InvalidValue as exc:
                cleaned[key] = None
                bad[key] = exc.reason
            except Exception as exc:  # a normaliser bug must not lose the row: report the field
                logger.exception("normaliser for %s failed on %r", spec.field, raw_value)
                cleaned[key] = None
                bad[key] = f"could not be cleaned ({type(exc).__name__}: {exc})"
        if repeats and bad and unique.isdisjoint(bad):
            return cleaned, {}
        return cleaned, bad
