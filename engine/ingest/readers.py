"""Read CSV, Parquet, JSONL and Excel source files in chunks of rows of strings, keeping every
row number.

Row numbers are 1-based **data** rows: the CSV header is not counted, so row 1 is the first line
after the header. Blank lines are skipped but keep their number, so in a CSV without multi-line
quoted fields row ``n`` sits on line ``n + 1`` of the file, and in JSONL row ``n`` is line ``n``.
In Parquet row ``n`` is the ``n``-th row. In an Excel sheet (``.xlsx``, ``.xlsm``, ``.xlsb``,
``.xls``, ``.ods``, read with calamine) the header is the first row that is not blank, and row
``n`` is the ``n``-th row below it; every cell is read as text (a number as its digits, a date as
``YYYY-MM-DD``; a whole number of more than 15 digits, which Excel cannot hold, as Excel shows it,
``1.96112345678901e+16``, so an identifier typed as a number is reported, not used).

A row that cannot be read is not dropped: it comes back in :attr:`Chunk.unreadable` with its number,
the reason and its text, so ingest can quarantine it. Reasons: invalid bytes for the encoding (each
line is decoded on its own, so one bad line does not poison the file), too few or too many columns,
a JSONL line that is not a JSON object, a value right of an Excel sheet's last header column.
Problems that concern the whole file (missing file, a mapped column the header lacks, a Parquet file
that is no Parquet, a workbook without the sheet asked for) raise :class:`SourceFileError`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import json
import logging
import math
import operator
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from engine.errors import EkjonError
from engine.ingest.mapping import FileOptions

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS: Final = 20_000
#: a chunk holds about this share of the rows still to read, and at least this many rows (see
#: :meth:`SourceReader.chunk_limit`)
_CHUNK_SHARE: Final = 8
_FEWEST_CHUNK_ROWS: Final = 1_000
#: plain CSV lines are read this many at a time (a block holding a problem is read line by line)
_PLAIN_BLOCK: Final = 2_000
#: JSONL has no header: the columns are the keys seen in this many leading objects.
JSONL_HEADER_SAMPLE: Final = 1_000
_MAX_RAW_CHARS: Final = 2_000

csv.field_size_limit(16 * 1024 * 1024)


class SourceFileError(EkjonError):
    """A source file that cannot be read at all (missing, no header, a mapped column absent...)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be read as a record: quarantined with its number, reason and text.

    ``values`` holds the wanted columns as far as they could be read (so the report can name the
    row's record id), ``column`` the column at fault when one is.
    """

    row: int
    reason: str
    text: str
    values: dict[str, str | None] | None = None
    column: str | None = None


@dataclass(slots=True)
class Chunk:
    """Consecutive rows of a file, column-wise.

    Attributes
    ----------
    rows : data row numbers of the readable rows, in file order.
    columns : the requested columns' values, aligned with ``rows``; empty cells are ``None``.
    unreadable : rows that could not be read, with their reason.
    nested : column -> {index into ``rows``: what the cell holds} for cells holding several values
        (a JSON object or list), which are given as JSON text in ``columns`` and are no record id
        and no field value.
    last_row : the highest row number this chunk covers (readable, unreadable or blank).
    position : how far into the file the chunk ends (bytes for CSV / JSONL, rows for Parquet).
    """

    rows: list[int] = field(default_factory=list)
    columns: dict[str, list[str | None]] = field(default_factory=dict)
    unreadable: list[BadRow] = field(default_factory=list)
    nested: dict[str, dict[int, str]] = field(default_factory=dict)
    last_row: int = 0
    position: int = 0

    def __len__(self) -> int:
        return len(self.rows) + len(self.unreadable)

    def row_values(self, i: int) -> dict[str, str | None]:
        """The ``i``-th readable row as ``{column: value}``."""
        return {name: values[i] for name, values in self.columns.items()}


class SourceReader:
    """Reads one source file in chunks. Use :func:`open_source` to make one.

    Parameters
    ----------
    path : the data file.
    file_format : ``csv`` | ``parquet`` | ``jsonl`` | ``excel``.
    options : delimiter and encoding (CSV / JSONL), sheet (Excel).
    columns : the columns to return; each must exist (else :class:`SourceFileError`).
    chunk_rows : rows per chunk at most (:meth:`chunk_limit`).
    while_storing : whether the chunks are stored while the next ones are read (by another
        process): then the first chunk is small and the others shrink towards the end
        (:meth:`chunk_limit`); else each holds ``chunk_rows`` rows.
    """

    def __init__(
        self,
        path: Path,
        file_format: str,
        options: FileOptions,
        columns: Sequence[str],
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        while_storing: bool = True,
    ) -> None:
        self.path = path
        self.format = file_format
        self.options = options
        self.columns = tuple(columns)
        self.chunk_rows = chunk_rows
        self.while_storing = while_storing
        self._sheet: object = None
        self._total = 0
        if not path.exists():
            raise SourceFileError(f"{path}: file not found.")
        if not path.is_file():
            raise SourceFileError(f"{path}: not a file.")
        self.header = self._read_header()
        missing = [c for c in self.columns if c not in self.header]
        if missing:
            shown = ", ".join(self.header[:60]) + (" ..." if len(self.header) > 60 else "")
            raise SourceFileError(
                f"{path}: column {missing[0]!r} named in the mapping is not in the file"
                + (f" (nor are {', '.join(repr(c) for c in missing[1:])})" if missing[1:] else "")
                + f"; the file has: {shown or '(no columns)'}. Fix the mapping or the file."
            )

    @property
    def total(self) -> int:
        """The size :attr:`Chunk.position` counts towards (bytes, or rows for Parquet)."""
        if self.format == "parquet":
            return self._parquet_file().metadata.num_rows
        if self.format == "excel":
            return int(self._excel_sheet().height)
        return self.path.stat().st_size

    def chunk_limit(self, rows: int, position: int) -> int:
        """How many rows the next chunk holds, ``rows`` rows into the file (``position`` of
        :attr:`total`): 1,000 first, then an eighth of the rows still to read (estimated from the
        bytes a row took so far), at most ``chunk_rows`` and at least 1,000 (or ``chunk_rows``, if
        fewer).

        Ingest stores each chunk while the next ones are read and cleaned (in two processes);
        a small first chunk starts the storing early and small last ones leave little to store
        after the reading ends, which is most of a file of a few thousand rows. A file read in
        the ingest's own process (not :attr:`while_storing`) is read ``chunk_rows`` at a time:
        its reading and storing take turns at the interpreter (the storing thread waits for it
        between rows), so smaller chunks would only add their own costs (a transaction, a
        block of the snapshot, a parse), some 4 ms of a 1,282-row file's 50.
        """
        if not self.while_storing:
            return self.chunk_rows
        fewest = min(_FEWEST_CHUNK_ROWS, self.chunk_rows)
        if rows == 0 or position <= 0:
            return fewest
        if self.format in ("parquet", "excel"):  # counted in rows
            left = self._total - position
        else:
            left = (self._total - position) * rows / position
        return max(fewest, min(self.chunk_rows, math.ceil(left / _CHUNK_SHARE)))

    def chunks(self) -> Iterator[Chunk]:
        """Yield the file's rows in chunks of at most ``chunk_rows`` (:meth:`chunk_limit`)."""
        self._total = self.total
        if self.format == "csv":
            return self._csv_chunks()
        if self.format == "jsonl":
            return self._jsonl_chunks()
        if self.format == "excel":
            return self._excel_chunks()
        return self._parquet_chunks()

    # -- headers -----------------------------------------------------------------------------

    def _read_header(self) -> list[str]:
        if self.format in ("csv", "jsonl"):
            self._check_not_binary()
        if self.format == "excel":
            for cells in self._excel_sheet().iter_rows():
                names = [_excel_text(c) or "" for c in cells]
                if any(names):
                    while not names[-1]:
                        names.pop()
                    return [n.strip() for n in names]
            raise SourceFileError(f"{self.path}: the sheet is empty (no header row).")
        if self.format == "csv":
            with self.path.open("rb") as f:
                for line_bytes in f:
                    line = _strip_bom(line_bytes)
                    if not line.strip():
                        continue
                    try:
                        text = line.decode(self.options.encoding)
                    except UnicodeDecodeError as exc:
                        raise SourceFileError(
                            f"{self.path}: the header line is not valid {self.options.encoding} "
                            f"({exc.reason} at byte {exc.start}); set file.encoding in the mapping."
                        ) from None
                    try:
                        names = next(csv.reader([text], delimiter=self.options.delimiter))
                    except csv.Error as exc:
                        raise SourceFileError(
                            f"{self.path}: the header line cannot be read as CSV ({exc}, "
                            f"{len(text):,} characters); is it a CSV file with the delimiter "
                            f"{self.options.delimiter!r} (file.delimiter in the mapping)?"
                        ) from None
                    return [c.strip() for c in names]
            raise SourceFileError(f"{self.path}: the file is empty (no header line).")
        if self.format == "jsonl":
            keys: dict[str, None] = {}
            with self.path.open("rb") as f:
                for i, line_bytes in enumerate(f):
                    if i >= JSONL_HEADER_SAMPLE:
                        break
                    try:
                        obj = json.loads(_strip_bom(line_bytes).decode(self.options.encoding))
                    except (UnicodeDecodeError, ValueError):
                        continue
                    if isinstance(obj, dict):
                        keys.update(dict.fromkeys(str(k) for k in obj))
            return list(keys)
        schema = self._parquet_file().schema_arrow
        for name in self.columns:
            if name in schema.names and _arrow_nested(schema.field(name).type):
                raise SourceFileError(
                    f"{self.path}: column {name!r} holds nested values "
                    f"({schema.field(name).type}), not one value per row; write it flattened "
                    "into plain columns (e.g. pyarrow's Table.flatten) and map those."
                )
        return list(schema.names)

    def _check_not_binary(self) -> None:
        """Refuse, naming what it is, a workbook or Parquet file given to be read as text."""
        with self.path.open("rb") as f:
            start = f.read(8)
        for magic, what, file_format, suffix in _BINARY_FILES:
            if start.startswith(magic):
                raise SourceFileError(
                    f"{self.path}: this is {what}, not {self.format.upper()} text; set "
                    f"file.format: {file_format} in the mapping (or leave file.format out and "
                    f"name the file {self.path.stem}{suffix})."
                )

    def _excel_sheet(self):  # noqa: ANN202 (python-calamine is imported lazily)
        if self._sheet is not None:
            return self._sheet
        from python_calamine import CalamineWorkbook

        try:
            workbook = CalamineWorkbook.from_path(str(self.path))
            names = list(workbook.sheet_names)
        except Exception as exc:  # calamine raises several types for a file that is no workbook
            raise SourceFileError(f"{self.path}: not a readable Excel workbook ({exc}).") from None
        wanted = self.options.sheet
        if wanted is None:
            wanted = 1
        if isinstance(wanted, int):
            found = wanted - 1 if wanted <= len(names) else None
        else:
            found = names.index(wanted) if wanted in names else None
        if found is None:
            raise SourceFileError(
                f"{self.path}: no sheet {wanted!r} (file.sheet in the mapping); the workbook has: "
                f"{', '.join(names) or '(no sheets)'}."
            )
        try:
            self._sheet = workbook.get_sheet_by_index(found)
        except Exception as exc:
            raise SourceFileError(
                f"{self.path}: sheet {names[found]!r} cannot be read ({exc})."
            ) from None
        return self._sheet

    def _parquet_file(self):  # noqa: ANN202 (pyarrow is imported lazily)
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several types for a file that is no Parquet
            raise SourceFileError(f"{self.path}: not a readable Parquet file ({exc}).") from None

    # -- CSV -----------------------------------------------------------------------------------

    def _csv_chunks(self) -> Iterator[Chunk]:
        header = self.header
        width = len(header)
        index = [header.index(c) for c in self.columns]
        with self.path.open("rb") as f:
            lines = _Lines(f, self.options.encoding)
            for line in lines:  # up to and including the header line
                if line.strip():
                    break
            lines.start_record()
            reader = csv.reader(lines, delimiter=self.options.delimiter)
            chunk = self._new_chunk()
            good = _Gathered(self.columns, index)  # the chunk's readable rows
            row = 0
            limit = self.chunk_limit(0, 0)
            # Runs of plain lines (valid UTF-8, one record each, the header's width) are read
            # a block at a time; a block with anything else is read again record by record.
            plain = width > 1 and codecs.lookup(self.options.encoding).name == "utf-8"
            while True:
                if plain and lines.between_records():
                    block = lines.take(min(_PLAIN_BLOCK, limit - len(chunk)))
                    read = _plain_block(block, self.options.delimiter, width, index)
                    if read is None:
                        lines.give_back(block)
                    else:
                        lines.position += sum(map(len, block))
                        filled, columns = read
                        # a blank line is no record and keeps its number
                        chunk.rows += [row + 1 + i for i, full in enumerate(filled) if full]
                        row += len(block)
                        good.add_columns(columns)
                        if len(chunk) >= limit:
                            chunk.columns = good.columns()
                            chunk.last_row, chunk.position = row, lines.position
                            yield chunk
                            chunk, good = self._new_chunk(), _Gathered(self.columns, index)
                            limit = self.chunk_limit(row, lines.position)
                        if block:
                            continue
                try:
                    values: list[str] | None = next(reader)
                    error = None
                except StopIteration:
                    break
                except csv.Error as exc:
                    values, error = None, f"not CSV: {exc}"
                row += 1
                if values is not None and len(values) != width and error is None:
                    if not values or (len(values) == 1 and not values[0].strip()):
                        lines.start_record()  # a blank line: no record, keeps its number
                        continue
                    what = "too few" if len(values) < width else "too many"
                    error = f"{what} columns: {len(values)} where the header has {width}"
                if len(lines.parts) > 1 and (error is not None or lines.text().count('"') % 2):
                    # An unclosed quote swallows the lines after it: quarantine its own line only
                    # and read the others again as rows of their own. (A quoted field may span
                    # lines, but then its quotes pair up and its row has the header's width.)
                    error = 'an unclosed quote (") runs past the end of the line' + (
                        f"; {error}" if error else ""
                    )
                    lines.push_back_all_but_first()
                known: dict[str, str | None] | None = None
                column = None
                if lines.bad is not None:
                    if error is None and values is not None:
                        # only the bytes are wrong: the row's record id and column can be named
                        known, column = self._escaped_row(values, index)
                    bad = lines.bad + (f" in column {column!r}" if column else "") + lines.hint
                    error = bad if error is None else f"{bad}; {error}"
                if error is not None:
                    chunk.unreadable.append(
                        BadRow(row, error, _clip(lines.text()), values=known, column=column)
                    )
                else:
                    assert values is not None
                    chunk.rows.append(row)
                    good.add_row(values)
                lines.start_record()
                if len(chunk) >= limit:
                    chunk.columns = good.columns()
                    chunk.last_row, chunk.position = row, lines.position
                    yield chunk
                    chunk, good = self._new_chunk(), _Gathered(self.columns, index)
                    limit = self.chunk_limit(row, lines.position)
            if len(chunk) or row > chunk.last_row:
                chunk.columns = good.columns()
                chunk.last_row, chunk.position = row, lines.position
                yield chunk

    # -- JSONL ---------------------------------------------------------------------------------

    def _jsonl_chunks(self) -> Iterator[Chunk]:
        encoding = self.options.encoding
        names = list(self.columns)
        cells_of = _cells_getter(names)
        chunk = self._new_chunk()
        got: list[tuple[Any, ...]] = []  # the chunk's objects' cells, row by row
        position = 0
        row = 0
        limit = self.chunk_limit(0, 0)
        with self.path.open("rb") as f:
            for line_bytes in f:
                row += 1
                position += len(line_bytes)
                line_bytes = _strip_bom(line_bytes) if row == 1 else line_bytes
                if not line_bytes.strip():
                    continue
                try:
                    text = line_bytes.decode(encoding)
                except UnicodeDecodeError as exc:
                    chunk.unreadable.append(self._undecodable_json(row, line_bytes, exc))
                else:
                    try:
                        obj = _json_object(text)
                    except ValueError as exc:
                        obj = exc
                    if obj.__class__ is dict:
                        try:
                            got.append(cells_of(obj))
                        except KeyError:  # a column missing from this object: no value
                            got.append(tuple(obj.get(name) for name in names))
                        chunk.rows.append(row)
                    else:
                        reason = (
                            f"not JSON: {obj}"
                            if isinstance(obj, ValueError)
                            else f"a JSON {type(obj).__name__}, not an object"
                        )
                        chunk.unreadable.append(BadRow(row, reason, _clip(text.rstrip("\r\n"))))
                if len(chunk.rows) + len(chunk.unreadable) >= limit:  # len(chunk), no call
                    chunk.columns = _json_columns(names, got, chunk.nested)
                    chunk.last_row = row
                    chunk.position = position
                    yield chunk
                    chunk, got = self._new_chunk(), []
                    limit = self.chunk_limit(row, position)
        if len(chunk) or row > 0:
            chunk.columns = _json_columns(names, got, chunk.nested)
            chunk.last_row = row
            chunk.position = position
            yield chunk

    # -- Excel ---------------------------------------------------------------------------------

    def _excel_chunks(self) -> Iterator[Chunk]:
        sheet = self._excel_sheet()
        width = len(self.header)
        index = [self.header.index(c) for c in self.columns]
        first_column = sheet.start[1] if sheet.start else 0
        rows = iter(sheet.iter_rows())
        for cells in rows:  # up to and including the header row
            if any(_excel_text(c) is not None for c in cells):
                break
        chunk = self._new_chunk()
        good: list[list[str]] = []
        row = 0
        limit = self.chunk_limit(0, 0)
        for cells in rows:
            row += 1
            values = [_excel_text(c) for c in cells]
            if all(v is None for v in values):
                continue  # a blank row: no record, keeps its number
            texts = [v or "" for v in values]
            texts += [""] * (width - len(texts))
            beyond = [i for i in range(width, len(values)) if values[i] is not None]
            if beyond:
                i = beyond[0]
                wanted = {name: values[j] for name, j in zip(self.columns, index, strict=True)}
                chunk.unreadable.append(
                    BadRow(
                        row,
                        f"a value in column {_column_letter(first_column + i)}, right of the "
                        f"header's last column ({self.header[-1]!r}): {values[i]!r}; give it a "
                        "header or move it out of the table",
                        _clip(",".join(texts).rstrip(",")),
                        values=wanted,
                    )
                )
            else:
                chunk.rows.append(row)
                good.append(texts[:width])
            if len(chunk) >= limit:
                chunk.columns = _transpose(good, self.columns, index)
                chunk.last_row = chunk.position = row
                yield chunk
                chunk, good = self._new_chunk(), []
                limit = self.chunk_limit(row, row)
        if len(chunk) or row > chunk.last_row:
            chunk.columns = _transpose(good, self.columns, index)
            chunk.last_row = chunk.position = row
            yield chunk

    # -- Parquet -------------------------------------------------------------------------------

    def _parquet_chunks(self) -> Iterator[Chunk]:
        import pyarrow as pa
        import pyarrow.compute as pc

        pf = self._parquet_file()
        row = 0
        batches = pf.iter_batches(batch_size=self.chunk_rows, columns=list(self.columns))
        pending: list[pa.RecordBatch] = []  # rows read, not yet given in a chunk
        held = 0
        while True:
            limit = self.chunk_limit(row, row)
            while held < limit:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (pa.ArrowException, OSError) as exc:
                    raise SourceFileError(
                        f"{self.path}: the rows after row {row + held:,} cannot be read ({exc})."
                    ) from None
                pending.append(batch)
                held += batch.num_rows
            if held == 0:
                break
            table = pa.Table.from_batches(pending)
            rest = table.slice(limit)
            table = table.slice(0, limit)
            pending, held = rest.to_batches(), rest.num_rows
            chunk = self._new_chunk()
            n = table.num_rows
            chunk.rows = list(range(row + 1, row + n + 1))
            for name in self.columns:
                array = table.column(name)
                if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
                    try:
                        array = pc.cast(array, pa.string())
                    except pa.ArrowException as exc:
                        raise SourceFileError(
                            f"{self.path}: column {name!r} ({array.type}) cannot be read as "
                            f"text ({exc})."
                        ) from None
                chunk.columns[name] = [
                    v if v is not None and v.strip() else None for v in array.to_pylist()
                ]
            row += n
            chunk.last_row = row
            chunk.position = row
            yield chunk

    def _escaped_row(
        self, values: list[str], index: Sequence[int]
    ) -> tuple[dict[str, str | None], str | None]:
        """A row read with undecodable bytes (as surrogates): its wanted columns with those bytes
        written as ``\\xNN``, and the first column that holds such bytes."""
        encoding = self.options.encoding
        known = {
            name: _escape(values[i], encoding) if values[i].strip() else None
            for name, i in zip(self.columns, index, strict=True)
        }
        column = next((self.header[i] for i, v in enumerate(values) if _SURROGATES.search(v)), None)
        return known, column

    def _undecodable_json(self, row: int, line_bytes: bytes, exc: UnicodeDecodeError) -> BadRow:
        """A JSONL line with bytes invalid in the encoding, named as far as it can be read."""
        encoding = self.options.encoding
        text = line_bytes.decode(encoding, "surrogateescape").rstrip("\r\n")
        reason = _decode_reason(exc, encoding)
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        known, column = None, None
        if isinstance(obj, dict):
            cells = {str(k): _json_cell(v) for k, v in obj.items()}
            known = {
                name: None if cells.get(name) is None else _escape(str(cells[name]), encoding)
                for name in self.columns
            }
            column = next((k for k, v in cells.items() if v and _SURROGATES.search(v)), None)
        if column is not None:
            reason += f" in column {column!r}"
        reason += _encoding_hint(line_bytes, encoding)
        return BadRow(row, reason, _clip(_escape(text, encoding)), values=known, column=column)

    def _new_chunk(self) -> Chunk:
        return Chunk(columns={name: [] for name in self.columns})


def open_source(
    path: Path | str,
    *,
    file_format: str,
    options: FileOptions | None = None,
    columns: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    while_storing: bool = True,
) -> SourceReader:
    """Open a source file for chunked reading, checking that every wanted column exists
    (``while_storing``: see :class:`SourceReader`).

    Raises
    ------
    SourceFileError
        If the file is missing or unreadable as a whole, or lacks one of ``columns``.
    """
    return SourceReader(
        Path(path), file_format, options or FileOptions(), columns, chunk_rows, while_storing
    )


def read_rows(
    path: Path | str, *, file_format: str, options: FileOptions | None = None
) -> Iterator[tuple[int, dict[str, str | None] | BadRow]]:
    """Every row of a file as ``(row number, {column: value})`` or ``(row number, BadRow)``.

    Convenient for small files and tests; ingest reads :meth:`SourceReader.chunks` column-wise.
    """
    reader = SourceReader(Path(path), file_format, options or FileOptions(), ())
    reader.columns = tuple(reader.header)
    for chunk in reader.chunks():
        merged: list[tuple[int, dict[str, str | None] | BadRow]] = [
            (r, chunk.row_values(i)) for i, r in enumerate(chunk.rows)
        ]
        merged += [(bad.row, bad) for bad in chunk.unreadable]
        merged.sort(key=lambda item: item[0])
        yield from merged


# -- helpers -----------------------------------------------------------------------------------


class _Lines:
    """The lines of a CSV file, each decoded on its own, for ``csv.reader``.

    The csv module pulls lines lazily, so after it yields a record, :attr:`parts` holds exactly
    that record's lines and :attr:`bad` says whether one of them was not valid in the encoding.
    Lines can be pushed back to be read again (after an unclosed quote swallowed them).
    """

    def __init__(self, f: IO[bytes], encoding: str) -> None:
        self._lines = iter(f)
        self._encoding = encoding
        self._first = True
        self._pending: list[tuple[str, str | None]] = []  # a stack: next line last
        self._given_back: deque[bytes] = deque()  # lines taken as a block, to read one by one
        self.parts: list[tuple[str, str | None]] = []
        self.bad: str | None = None
        self.hint = ""
        self.position = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._pending:
            text, bad = self._pending.pop()
        else:
            line_bytes = self._given_back.popleft() if self._given_back else next(self._lines)
            self.position += len(line_bytes)
            if self._first:
                line_bytes = _strip_bom(line_bytes)
                self._first = False
            try:
                text, bad = line_bytes.decode(self._encoding), None
            except UnicodeDecodeError as exc:
                # undecodable bytes as surrogates: the line still parses into its columns
                text = line_bytes.decode(self._encoding, "surrogateescape")
                bad = _decode_reason(exc, self._encoding)
                self.hint = self.hint or _encoding_hint(line_bytes, self._encoding)
        if bad is not None and self.bad is None:
            self.bad = bad
        self.parts.append((text, bad))
        return text

    def between_records(self) -> bool:
        """Whether every line read so far belongs to a record read (none waits to be re-read)."""
        return not self._pending and not self._given_back and not self.parts

    def take(self, n: int) -> list[bytes]:
        """The next ``n`` lines (fewer at the end) as bytes, read past; :attr:`position` is the
        caller's to advance, or :meth:`give_back` them."""
        return list(itertools.islice(self._lines, n))

    def give_back(self, block: list[bytes]) -> None:
        """Lines taken, to be read again one by one."""
        self._given_back.extend(block)

    def start_record(self) -> None:
        self.parts = []
        self.bad = None
        self.hint = ""

    def push_back_all_but_first(self) -> None:
        first, rest = self.parts[0], self.parts[1:]
        self._pending.extend(reversed(rest))
        self.parts = [first]
        self.bad = first[1]

    def text(self) -> str:
        """The record's lines, undecodable bytes written as ``\\xNN``."""
        return _escape("".join(text for text, _ in self.parts).rstrip("\r\n"), self._encoding)


def _plain_block(
    block: list[bytes], delimiter: str, width: int, index: Sequence[int]
) -> tuple[list[bool], list[list[str | None]]] | None:
    """A block of UTF-8 lines read at once when each line is one record of ``width`` columns
    (or blank): which lines hold a record, and the columns at ``index`` of those records, blank
    cells as ``None``. ``None`` when a line is anything else (read it record by record, which
    names each problem).

    Lines without quotes are parsed by Arrow's CSV reader; a block with quotes by the csv
    module, as the records around it are (the two read unquoted lines alike).
    """
    data = b"".join(block)
    try:
        texts = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    if data.endswith(b"\n"):
        texts.pop()
    filled = [bool(text.strip()) for text in texts]
    if b'"' not in data and b"\x00" not in data and data.count(b"\r") == data.count(b"\r\n"):
        records = block if all(filled) else _compress(block, filled)
        columns = _arrow_block(records, delimiter, width, index)
        return None if columns is None else (filled, columns)
    lines = _compress(texts, filled)
    try:
        parsed = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error:
        return None
    if len(parsed) != len(lines) or any(len(values) != width for values in parsed):
        return None  # a quoted value spanning lines, or a row of another width
    gathered = _Gathered(range(len(index)), index)
    for values in parsed:
        gathered.add_row(values)
    return filled, list(gathered.columns().values())


def _compress(items: list[Any], keep: list[bool]) -> list[Any]:
    return list(itertools.compress(items, keep))


def _arrow_block(
    lines: list[bytes], delimiter: str, width: int, index: Sequence[int]
) -> list[list[str | None]] | None:
    """Unquoted CSV lines parsed by Arrow: the columns at ``index``, blank cells ``None``; or
    ``None`` if a line has another number of columns than ``width``."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if not lines:
        return [[] for _ in index]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(b"".join(lines)),
            read_options=pa_csv.ReadOptions(
                use_threads=False, autogenerate_column_names=True, block_size=1 << 26
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, quote_char=False, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows != len(lines) or table.num_columns != width:
        return None
    return [
        [v if v and not v.isspace() else None for v in table.column(i).to_pylist()] for i in index
    ]


class _Gathered:
    """A chunk's readable rows, gathered row by row or a block of columns at a time, turned into
    the wanted columns (blank cells ``None``) at the chunk's end."""

    def __init__(self, columns: Sequence[Any], index: Sequence[int]) -> None:
        self._names, self._index = list(columns), list(index)
        self._rows: list[list[str]] = []
        self._pieces: list[list[list[str | None]]] = []

    def add_row(self, values: list[str]) -> None:
        self._rows.append(values)

    def add_columns(self, columns: list[list[str | None]]) -> None:
        self._flush()
        self._pieces.append(columns)

    def columns(self) -> dict[Any, list[str | None]]:
        self._flush()
        if len(self._pieces) == 1:
            return dict(zip(self._names, self._pieces[0], strict=True))
        return {
            name: list(itertools.chain.from_iterable(piece[i] for piece in self._pieces))
            for i, name in enumerate(self._names)
        }

    def _flush(self) -> None:
        if self._rows:
            transposed = _transpose(self._rows, self._names, self._index)
            self._pieces.append(list(transposed.values()))
            self._rows = []


def _decode_reason(exc: UnicodeDecodeError, encoding: str) -> str:
    bad = exc.object[exc.start : exc.start + 4]
    return f"invalid {encoding}: {exc.reason} at byte {exc.start} of the line ({bad!r})"


def _encoding_hint(line_bytes: bytes, encoding: str) -> str:
    """How to read the line, when it reads in the encoding Windows saves text in."""
    if codecs.lookup(encoding).name == "cp1252":
        return ""
    try:
        line_bytes.decode("cp1252")
    except UnicodeDecodeError:
        return ""
    return "; if the file was saved as cp1252 (Windows), set file.encoding: cp1252 in the mapping"


_SURROGATES: Final = re.compile("[\udc80-\udcff]")


def _escape(text: str, encoding: str) -> str:
    """Text decoded with ``surrogateescape``, its undecodable bytes written as ``\\xNN``."""
    if not _SURROGATES.search(text):
        return text
    return text.encode(encoding, "surrogateescape").decode(encoding, "backslashreplace")


def _strip_bom(line_bytes: bytes) -> bytes:
    return line_bytes[3:] if line_bytes.startswith(b"\xef\xbb\xbf") else line_bytes


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_RAW_CHARS else text[:_MAX_RAW_CHARS] + "..."


def _transpose(
    rows: list[list[str]], columns: Sequence[str], index: Sequence[int]
) -> dict[str, list[str | None]]:
    """Rows of strings -> the wanted columns, blank cells as ``None``."""
    if not rows:
        return {name: [] for name in columns}
    transposed = list(zip(*rows, strict=True))
    return {
        name: [v if v and not v.isspace() else None for v in transposed[i]]
        for name, i in zip(columns, index, strict=True)
    }


#: the first bytes of binary files someone may give as CSV or JSONL: what each is, how to read it
_BINARY_FILES: Final = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx or .ods: a zip file)", "excel", ".xlsx"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)", "excel", ".xls"),
    (b"PAR1", "a Parquet file", "parquet", ".parquet"),
)


def _excel_text(value: object) -> str | None:
    """An Excel cell as the text a CSV export would hold; ``None`` for a blank cell."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer():
            # Excel holds 15 significant digits: a longer number has lost digits already, so it
            # is shown as Excel shows it and an identifier read from it is reported, not used.
            return str(int(value)) if abs(value) < 1e15 else f"{value:.15g}"
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _column_letter(index: int) -> str:
    """A 0-based column index as Excel names it (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _arrow_nested(arrow_type: object) -> bool:
    """Whether an Arrow type holds several values per cell (struct, list, map, union)."""
    import pyarrow as pa

    return pa.types.is_nested(arrow_type)


#: the C scanner json.loads reads a value with (default options)
_JSON_SCAN: Final = json.JSONDecoder().scan_once


def _json_object(text: str) -> Any:
    """``json.loads(text)``, the same value or error, read by its scanner directly where the
    text starts with the value and holds nothing after it but JSON whitespace (most lines of a
    JSONL file): without ``loads``'s two calls around it."""
    try:
        value, end = _JSON_SCAN(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)  # its error, as loads gives it
    if end == len(text) or not text[end:].strip(" \t\n\r"):
        return value
    return json.loads(text)


def _cells_getter(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A JSON object's values of ``names``, as a tuple (``KeyError`` if one is missing)."""
    if len(names) == 1:
        name = names[0]
        return lambda obj: (obj[name],)
    if not names:
        return lambda obj: ()
    return operator.itemgetter(*names)


def _json_columns(
    names: list[str], got: list[tuple[Any, ...]], nested: dict[str, dict[int, str]]
) -> dict[str, list[str | None]]:
    """The columns of a chunk's JSON objects' cells (one tuple a row, in ``names`` order) as
    text (:func:`_json_cell`); a cell holding an object or a list is noted in ``nested``
    (column -> row index -> what it holds)."""
    columns: dict[str, list[str | None]] = {}
    by_column = zip(*got, strict=True) if got else (() for _ in names)
    for name, values in zip(names, by_column, strict=True):
        # most cells are text: _json_cell's first case, without the call
        columns[name] = [
            v if v.__class__ is str and v.strip() else None if v is None else _json_cell(v)
            for v in values
        ]
        if not {dict, list}.isdisjoint(map(type, values)):
            nested[name] = {
                j: "a JSON object" if isinstance(v, dict) else "a JSON list"
                for j, v in enumerate(values)
                if isinstance(v, dict | list)
            }
    return columns


def _json_cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
