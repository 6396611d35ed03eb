"""Mappings: which column of a source file feeds which canonical field (see docs/mapping.md).

A mapping is a small YAML file. :func:`load_mapping` reads and checks it; every mistake is reported
as one :class:`~engine.errors.MappingError` that names the file, the key and the value at fault.

Example
-------
>>> from engine.ingest.mapping import mapping_from_dict
>>> m = mapping_from_dict(
...     {"source": "dss_old_age", "kind": "programme", "record_id": ["ben_id"],
...      "fields": {"full_name": "beneficiary_name", "programme": {"value": "old_age_allowance"}}}
... )
>>> m.columns
('ben_id', 'beneficiary_name')
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from engine.errors import MappingError
from engine.normalise.identifiers import IDENTIFIER_NAME
from engine.record import FIELD_KINDS, RECORD_KINDS

FILE_FORMATS: Final = ("csv", "parquet", "jsonl", "excel")
#: file extension -> format, for files whose mapping does not say.
EXTENSION_FORMATS: Final = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xlsb": "excel",
    ".xls": "excel",
    ".ods": "excel",
}
#: fields set at the top level of a mapping, never under ``fields``.
TOP_LEVEL_FIELDS: Final = ("source", "record_id", "kind", "identifiers")
SCRIPTS: Final = ("bn", "en")

_TOP_KEYS: Final = (
    "source",
    "kind",
    "record_id",
    "file",
    "fields",
    "identifiers",
    "description",
)
_FILE_KEYS: Final = ("format", "delimiter", "encoding", "sheet")
_ENTRY_KEYS: Final = (
    "column",
    "columns",
    "value",
    "formats",
    "as_of",
    "age_as_of",
    "script",
    "default",
)
#: kinds of field whose value may be joined from several columns (``columns``): free text.
JOINABLE_KINDS: Final = frozenset({"name", "text", "address"})
#: what joins the parts of a field fed by several columns.
COLUMNS_SEPARATOR: Final = " "


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one canonical field is filled: from a ``column``, from several ``columns`` joined, or
    a constant ``value``.

    Attributes
    ----------
    field : the canonical field name (a key of ``engine.record.FIELD_KINDS``).
    column : the source column, or ``None`` when ``columns`` or ``value`` is set.
    columns : text fields: source columns whose non-empty cells are joined with one space into
        the field's raw value (e.g. first names and last name), or ``None``.
    value : a constant raw value for every row, or ``None``.
    formats : date fields: ``strptime`` formats tried in order (``None``: every known format).
    as_of : ``age`` only: ISO date the age was true on; ingest stores it as ``age_as_of``.
    age_as_of : ``date_of_birth`` only: ISO date on which an age written in the date column
        (``58y``, ``58 yrs``, ``৫৮ বছর``, a bare ``58``) was true; such a cell fills the record's
        ``age`` and ``age_as_of`` instead of its date of birth.
    script : name fields: ``bn`` or ``en``, a hint for the normaliser.
    default : raw value used when the column (or every one of ``columns``) is empty on a row.
    """

    field: str
    column: str | None = None
    value: str | None = None
    formats: tuple[str, ...] | None = None
    as_of: str | None = None
    script: str | None = None
    default: str | None = None
    columns: tuple[str, ...] | None = None
    age_as_of: str | None = None

    @property
    def kind(self) -> str:
        """The field's kind of value (which normaliser reads it)."""
        return FIELD_KINDS[self.field]

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The source columns the field reads: its ``column``, its ``columns``, or none."""
        if self.columns is not None:
            return self.columns
        return () if self.column is None else (self.column,)

    def hints(self) -> dict[str, Any]:
        """Keyword hints for ``engine.normalise.clean`` (the row's provider is added by ingest)."""
        hints: dict[str, Any] = {"field": self.field}
        if self.formats is not None:
            hints["formats"] = list(self.formats)
        if self.script is not None:
            hints["script"] = self.script
        if self.age_as_of is not None:
            hints["age_as_of"] = self.age_as_of
        return hints


@dataclass(frozen=True, slots=True)
class FileOptions:
    """How to read the source file. ``format=None`` means: from the file's extension.

    ``delimiter`` and ``encoding`` are for CSV (and ``encoding`` for JSONL); ``sheet`` for Excel:
    a sheet's name, or its position counted from 1 (``None``: the first sheet).
    """

    format: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    sheet: str | int | None = None


@dataclass(frozen=True)
class Mapping:
    """A checked mapping: one source, its kind, its record id columns and its field entries."""

    source: str
    kind: str
    record_id: tuple[str, ...]
    fields: dict[str, FieldSpec]
    file: FileOptions = field(default_factory=FileOptions)
    description: str | None = None
    path: Path | None = None
    #: extra exact identifiers the source declares: name (``tin``) -> its column; ingest stores
    #: them in the record's ``identifiers`` field (``name=value;...``)
    identifiers: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every source column the mapping reads, record id columns first, without repeats."""
        seen: dict[str, None] = dict.fromkeys(self.record_id)
        for spec in self.fields.values():
            for column in spec.source_columns:
                seen.setdefault(column, None)
        for column in self.identifiers.values():
            seen.setdefault(column, None)
        return tuple(seen)

    def file_format(self, path: Path | str) -> str:
        """The format to read ``path`` with: the mapping's ``file.format``, else the extension's.

        Raises
        ------
        MappingError
            If the mapping names no format and the extension is not one ekjon knows.
        """
        if self.file.format is not None:
            return self.file.format
        suffix = Path(path).suffix.lower()
        try:
            return EXTENSION_FORMATS[suffix]
        except KeyError:
            raise MappingError(
                f"{self._where()}: cannot tell the format of {Path(path).name!r} from its "
                f"extension {suffix!r}; set file.format to one of {', '.join(FILE_FORMATS)}."
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """The mapping as plain data (the YAML's shape, shorthand expanded), stored with runs."""
        fields_out: dict[str, Any] = {}
        for name, spec in self.fields.items():
            entry: dict[str, Any] = {}
            for key in _ENTRY_KEYS:
                value = getattr(spec, key)
                if value is not None:
                    entry[key] = list(value) if isinstance(value, tuple) else value
            fields_out[name] = entry
        out: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "record_id": list(self.record_id),
            "file": {
                "format": self.file.format,
                "delimiter": self.file.delimiter,
                "encoding": self.file.encoding,
                # only when set, so the digest of a mapping without it is what it always was
                **({"sheet": self.file.sheet} if self.file.sheet is not None else {}),
            },
            "fields": fields_out,
        }
        if self.identifiers:  # only when set, so older mappings' digests stay as they were
            out["identifiers"] = dict(sorted(self.identifiers.items()))
        if self.description is not None:
            out["description"] = self.description
        return out

    def digest(self) -> str:
        """A sha256 of the mapping's meaning (not its formatting or comments)."""
        text = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _where(self) -> str:
        return str(self.path) if self.path is not None else f"mapping of {self.source!r}"


def load_mapping(path: Path | str) -> Mapping:
    """Read and check a mapping YAML file.

    Parameters
    ----------
    path : the mapping file (see docs/mapping.md for the format).

    Returns
    -------
    Mapping

    Raises
    ------
    MappingError
        If the file is missing, is not YAML, or does not describe a source correctly; the message
        names the file, the key and the value at fault.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"{path}: mapping file not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc}).") from None
    return mapping_from_dict(parse_mapping_yaml(text, path), path=path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain YAML
    keeps the last, silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[object, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, str | int | float | bool) and key in seen:
            raise MappingError(f"{key!r} is given twice, on lines {seen[key]} and {line}; keep one")
        if isinstance(key, str | int | float | bool):
            seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_mapping_yaml(text: str, path: Path | str | None = None) -> object:
    """A mapping's YAML text as plain data, for :func:`mapping_from_dict`.

    Raises
    ------
    MappingError
        If the text is not YAML, or gives a key twice in one mapping (the message names the key
        and both lines).
    """
    where = str(path) if path is not None else "mapping"
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except MappingError as exc:
        raise MappingError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{where}: not valid YAML ({exc}).") from None


def mapping_from_dict(data: object, *, path: Path | str | None = None) -> Mapping:
    """Check mapping data (as parsed from YAML) and build a :class:`Mapping`.

    Raises
    ------
    MappingError
        As :func:`load_mapping`.
    """
    where = str(path) if path is not None else "mapping"

    def fail(key: str, value: object, problem: str) -> MappingError:
        return MappingError(f"{where}: {key}: {problem} (got {value!r}).")

    if not isinstance(data, dict):
        raise MappingError(
            f"{where}: a mapping must be a YAML mapping with source, kind, record_id and fields "
            f"(got {type(data).__name__})."
        )
    for key in data:
        if key not in _TOP_KEYS:
            hint = " (put canonical fields under 'fields')" if key in FIELD_KINDS else ""
            raise fail(
                str(key), data[key], f"unknown key{hint}; known keys: {', '.join(_TOP_KEYS)}"
            )
    for key in ("source", "kind", "record_id", "fields"):
        if key not in data or data[key] is None:
            raise MappingError(
                f"{where}: {key}: missing; a mapping needs {key} (see docs/mapping.md)."
            )

    source = data["source"]
    if not isinstance(source, str) or not source.strip() or "/" in source:
        raise fail("source", source, "must be a non-empty name without '/'")
    source = source.strip()

    kind = data["kind"]
    if kind not in RECORD_KINDS:
        raise fail("kind", kind, f"must be one of {' | '.join(RECORD_KINDS)}")

    record_id_raw = data["record_id"]
    if isinstance(record_id_raw, str | int):
        record_id_raw = [record_id_raw]
    if (
        not isinstance(record_id_raw, list)
        or not record_id_raw
        or not all(isinstance(c, str | int) and str(c).strip() for c in record_id_raw)
    ):
        raise fail("record_id", data["record_id"], "must be a column name or a list of them")
    record_id = tuple(str(c).strip() for c in record_id_raw)
    if len(set(record_id)) != len(record_id):
        raise fail("record_id", data["record_id"], "names a column twice")

    file_options = _file_options(data.get("file"), fail)

    fields_raw = data["fields"]
    if not isinstance(fields_raw, dict):
        raise fail("fields", fields_raw, "must map canonical field names to columns")
    specs: dict[str, FieldSpec] = {}
    for name, entry in fields_raw.items():
        specs[str(name)] = _field_spec(str(name), entry, fail)
    if "age_as_of" in specs and specs.get("age") is not None and specs["age"].as_of is not None:
        raise fail(
            "fields.age.as_of",
            specs["age"].as_of,
            "conflicts with the age_as_of field; give the survey date one way only",
        )

    identifiers = _identifiers(data.get("identifiers"), fail)

    description = data.get("description")
    return Mapping(
        source=source,
        kind=kind,
        record_id=record_id,
        fields=specs,
        file=file_options,
        description=None if description is None else str(description),
        path=Path(path) if path is not None else None,
        identifiers=identifiers,
    )


def _identifiers(raw: object, fail: Any) -> dict[str, str]:
    """The ``identifiers:`` section: name -> column (a column name, or ``{column: ...}``)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail(
            "identifiers",
            raw,
            "must map identifier names to columns, e.g. {tin: tin_no, employee_id: emp_no}",
        )
    out: dict[str, str] = {}
    for name, entry in raw.items():
        key = f"identifiers.{name}"
        text = str(name).strip().lower()
        if text in FIELD_KINDS:
            raise fail(
                key, entry, f"{text} is a canonical field: map it under fields, not identifiers"
            )
        if not IDENTIFIER_NAME.fullmatch(text):
            raise fail(
                key,
                name,
                "an identifier's name is a lower-case word of letters, digits and '_' starting "
                "with a letter (e.g. tin, employee_id)",
            )
        if text in out:
            raise fail(key, name, "names an identifier twice (names are read in lower case)")
        if isinstance(entry, dict):
            unknown = [k for k in entry if k != "column"]
            if unknown:
                raise fail(f"{key}.{unknown[0]}", entry[unknown[0]], "unknown key; known: column")
            entry = entry.get("column")
        if not _is_column_name(entry):
            raise fail(key, entry, "must be a column name (or {column: name})")
        out[text] = str(entry).strip()
    return out


def _file_options(raw: object, fail: Any) -> FileOptions:
    if raw is None:
        return FileOptions()
    if not isinstance(raw, dict):
        raise fail("file", raw, "must be a mapping with format, delimiter, encoding and/or sheet")
    for key in raw:
        if key not in _FILE_KEYS:
            raise fail(f"file.{key}", raw[key], f"unknown key; known keys: {', '.join(_FILE_KEYS)}")
    fmt = raw.get("format")
    if fmt is not None and fmt not in FILE_FORMATS:
        raise fail("file.format", fmt, f"must be one of {' | '.join(FILE_FORMATS)}")
    delimiter = raw.get("delimiter", ",")
    if delimiter == "\\t":
        delimiter = "\t"
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        raise fail("file.delimiter", delimiter, "must be one character, e.g. ',' or ';' or '\\t'")
    encoding = raw.get("encoding", "utf-8")
    try:
        info = codecs.lookup(str(encoding))
    except LookupError:
        raise fail("file.encoding", encoding, "is not an encoding Python knows") from None
    # Rows are decoded one line at a time, which needs an encoding where '\n' is the byte 0x0A.
    if "\n".encode(info.name) != b"\n":
        raise fail("file.encoding", encoding, "must be ASCII-compatible (utf-8, cp1252, ...)")
    sheet = raw.get("sheet")
    if sheet is not None and (
        isinstance(sheet, bool)
        or not isinstance(sheet, str | int)
        or (isinstance(sheet, int) and sheet < 1)
        or (isinstance(sheet, str) and not sheet.strip())
    ):
        raise fail("file.sheet", sheet, "must be a sheet's name or its position (1 = the first)")
    return FileOptions(format=fmt, delimiter=delimiter, encoding=str(encoding), sheet=sheet)


def _scalar(value: object) -> str:
    """A YAML scalar as the raw string a source column would hold."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_spec(name: str, entry: object, fail: Any) -> FieldSpec:
    key = f"fields.{name}"
    if name in TOP_LEVEL_FIELDS:
        raise fail(key, entry, f"{name} is set at the top level of the mapping, not under fields")
    if name not in FIELD_KINDS:
        known = ", ".join(f for f in FIELD_KINDS if f not in TOP_LEVEL_FIELDS)
        raise fail(key, entry, f"{name!r} is not a canonical field; known fields: {known}")
    kind = FIELD_KINDS[name]
    if isinstance(entry, str | int) and not isinstance(entry, bool):
        if not str(entry).strip():
            raise fail(key, entry, "the column name is empty")
        return FieldSpec(field=name, column=str(entry).strip())
    if not isinstance(entry, dict):
        raise fail(
            key, entry, "must be a column name or a mapping with 'column', 'columns' or 'value'"
        )
    for sub in entry:
        if sub not in _ENTRY_KEYS:
            raise fail(
                f"{key}.{sub}", entry[sub], f"unknown key; known keys: {', '.join(_ENTRY_KEYS)}"
            )
    column: Any = entry.get("column")
    columns: Any = entry.get("columns")
    value: Any = entry.get("value")
    if sum(x is not None for x in (column, columns, value)) != 1:
        raise fail(
            key,
            entry,
            "needs exactly one of 'column' (a source column), 'columns' (several, joined) "
            "or 'value' (a constant)",
        )
    if column is not None:
        if not _is_column_name(column):
            raise fail(f"{key}.column", column, "must be a column name")
        column = str(column).strip()
    if columns is not None:
        columns = _joined_columns(name, kind, columns, fail)
    if value is not None:
        if isinstance(value, list | dict):
            raise fail(f"{key}.value", value, "must be a single value")
        value = _scalar(value)

    formats = entry.get("formats")
    if formats is not None:
        if kind != "date":
            raise fail(
                f"{key}.formats", formats, f"only date fields take formats; {name} is {kind}"
            )
        if isinstance(formats, str):
            formats = [formats]
        if (
            not isinstance(formats, list)
            or not formats
            or not all(isinstance(f, str) for f in formats)
        ):
            raise fail(
                f"{key}.formats", formats, "must be a list of strptime formats like '%d/%m/%Y'"
            )
        if not all("%" in f for f in formats):
            raise fail(
                f"{key}.formats", formats, "every format needs strptime codes like '%d/%m/%Y'"
            )
        formats = tuple(formats)

    as_of = entry.get("as_of")
    if as_of is not None:
        if name != "age":
            hint = " (a date column holding ages takes age_as_of)" if kind == "date" else ""
            raise fail(f"{key}.as_of", as_of, f"only the age field takes as_of{hint}")
        as_of = _iso_date(f"{key}.as_of", as_of, fail)

    age_as_of = entry.get("age_as_of")
    if age_as_of is not None:
        if name != "date_of_birth":
            hint = " (an age field takes as_of)" if name == "age" else ""
            raise fail(
                f"{key}.age_as_of", age_as_of, f"only the date_of_birth field takes age_as_of{hint}"
            )
        if value is not None:
            raise fail(f"{key}.age_as_of", age_as_of, "needs a column (a constant value is no age)")
        age_as_of = _iso_date(f"{key}.age_as_of", age_as_of, fail)

    script = entry.get("script")
    if script is not None:
        if kind != "name":
            raise fail(f"{key}.script", script, f"only name fields take script; {name} is {kind}")
        if script not in SCRIPTS:
            raise fail(f"{key}.script", script, f"must be one of {' | '.join(SCRIPTS)}")

    default = entry.get("default")
    if default is not None:
        if value is not None:
            raise fail(f"{key}.default", default, "a default needs a column (a value is constant)")
        if isinstance(default, list | dict):
            raise fail(f"{key}.default", default, "must be a single value")
        default = _scalar(default)

    return FieldSpec(
        field=name,
        column=column,
        columns=columns,
        value=value,
        formats=formats,
        as_of=as_of,
        age_as_of=age_as_of,
        script=script,
        default=default,
    )


def _is_column_name(column: object) -> bool:
    return (
        isinstance(column, str | int) and not isinstance(column, bool) and bool(str(column).strip())
    )


def _joined_columns(name: str, kind: str, columns: object, fail: Any) -> tuple[str, ...]:
    key = f"fields.{name}.columns"
    if kind not in JOINABLE_KINDS:
        raise fail(
            key,
            columns,
            f"only text fields (names, addresses, ...) take several columns; {name} is {kind}: "
            "map it to one column",
        )
    if not isinstance(columns, list) or not columns or not all(map(_is_column_name, columns)):
        raise fail(key, columns, "must be a list of column names, e.g. [first_name, last_name]")
    out = tuple(str(c).strip() for c in columns)
    if len(set(out)) != len(out):
        raise fail(key, columns, "names a column twice")
    return out


def _iso_date(key: str, value: object, fail: Any) -> str:
    text = _scalar(value)
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise fail(key, value, "must be an ISO date YYYY-MM-DD") from None
