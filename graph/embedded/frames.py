"""The embedded store's journal: CRC'd frames of plain data, and the commit record beside it.

A *frame* is a 16-byte header (magic, payload length, payload CRC-32, header CRC-32) and a pickled
payload, read back with an unpickler that refuses every class, so the files can only ever yield
plain data. The commit record holds how many bytes of the journal are committed, in two slots
written in turn (each with its own checksum), so a torn write spoils one, never both. See
:mod:`graph.embedded.store` for how the store uses them.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graph.store import StoreCorrupted

FORMAT_VERSION = 1
_MAGIC = b"EKJ1"
# magic, payload length, payload CRC-32, CRC-32 of the header's first 12 bytes
_HEADER = struct.Struct("<4sIII")
# Written to two slots in turn (in two disk sectors), so a torn write spoils one, never both.
_COMMIT = struct.Struct("<4sQQQI")
_COMMIT_MAGIC = b"EKC1"
_COMMIT_SLOTS = (0, 512)
# Publish marks are small; frames at least this long are not decoded when looking for them.
_MARK_BYTES = 4096
_WHAT_TO_DO = (
    "Nothing was changed. Restore the store's folder from a backup, or move the folder aside and "
    "run `ekjon resolve` to publish the graph again from the record store (person and household "
    "IDs are kept by the identity ledger)."
)

# Journal operations (the first element of every payload).
_MERGE_NODES = "N"
_MERGE_EDGES = "E"
_REPLACE_EDGES = "R"
_DELETE_EDGES = "DE"
_DELETE_NODES = "DN"
# Publish marks (:meth:`EmbeddedStore.begin_publish`, ``end_publish``) and, in a snapshot, the
# publish state as it was when the snapshot was taken.
_BEGIN = "PB"
_END = "PE"
_STATE = "PS"


# --- frames ---------------------------------------------------------------------------------------


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles plain data only: a store file can never make Python import or run anything."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the store files hold plain data only, not {module}.{name}")


def _encode(payload: object) -> bytes:
    body = pickle.dumps(payload, protocol=5)
    head = struct.pack("<4sII", _MAGIC, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def _decode(body: bytes) -> Any:
    return _PlainDataUnpickler(io.BytesIO(body)).load()


def _frame_at(data: bytes, offset: int) -> int | None:
    """The offset just after the valid frame at ``offset`` in ``data``, or None if none is there."""
    if len(data) - offset < _HEADER.size:
        return None
    magic, length, body_crc, head_crc = _HEADER.unpack_from(data, offset)
    if magic != _MAGIC or zlib.crc32(data[offset : offset + 12]) != head_crc:
        return None
    start, end = offset + _HEADER.size, offset + _HEADER.size + length
    if end > len(data) or zlib.crc32(data[start:end]) != body_crc:
        return None
    return end


class _TornTail(Exception):
    """Internal: the file's valid frames end at ``offset``; what follows is a torn last append."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


def _walk(
    path: Path,
    tolerate_torn_tail: bool,
    stop: int | None = None,
    decode_below: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(offset, payload)`` of the frames in ``path``, read one at a time, up to byte ``stop``.

    With ``decode_below``, only frames whose payload is shorter are decoded (the others yield
    ``None``): a quick walk that checks every frame and finds the small ones (publish marks).

    A bad frame that no valid frame follows is a torn tail (a crash during the last append): with
    ``tolerate_torn_tail`` the iteration raises :class:`_TornTail`. A bad frame followed by valid
    ones is damage.

    Raises
    ------
    StoreCorrupted
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        end = size if stop is None else min(stop, size)
        offset = 0
        while offset < end:
            head = file.read(_HEADER.size)
            body: bytes | None = None
            length = 0
            if len(head) == _HEADER.size:
                magic, length, body_crc, head_crc = _HEADER.unpack(head)
                if (
                    magic == _MAGIC
                    and zlib.crc32(head[:12]) == head_crc
                    and offset + _HEADER.size + length <= end
                ):
                    body = file.read(length)
                    if len(body) != length or zlib.crc32(body) != body_crc:
                        body = None
            if body is None:
                file.seek(offset)
                rest = file.read(size - offset)
                later = _next_valid_frame(rest, 1)
                if later is None and tolerate_torn_tail:
                    raise _TornTail(offset)
                where = (
                    f"; valid frames follow at byte {offset + later}" if later is not None else ""
                )
                raise StoreCorrupted(
                    f"{path} is damaged at byte {offset} of {size}{where}. {_WHAT_TO_DO}"
                )
            payload = None
            if decode_below is None or length < decode_below:
                try:
                    payload = _decode(body)
                except Exception as error:  # a valid checksum, unreadable data: a bug, tampering
                    raise StoreCorrupted(
                        f"{path}: the frame at byte {offset} cannot be read: {error}. {_WHAT_TO_DO}"
                    ) from None
            yield offset, payload
            offset += _HEADER.size + length


def _iter_frames(path: Path, tolerate_torn_tail: bool, stop: int | None = None) -> Iterator[Any]:
    """The payloads of the frames in ``path`` (up to byte ``stop``); see :func:`_walk`."""
    for _, payload in _walk(path, tolerate_torn_tail, stop):
        yield payload


def _scan(path: Path) -> tuple[int, int, list[tuple[int, tuple]], list[int]]:
    """Check every frame of the journal ``path`` without applying any.

    Returns
    -------
    ``(size, valid, marks, changes)``: the file's size, where its valid frames end (before a torn
    tail, if any), the publish marks (``(offset, payload)`` of each begin and end) in order, and
    the offsets of the frames that change the graph (every frame but the header and the marks).

    Raises
    ------
    StoreCorrupted
        If a damaged frame has valid frames after it.
    """
    size = path.stat().st_size
    marks: list[tuple[int, tuple]] = []
    changes: list[int] = []
    valid = size
    try:
        for offset, payload in _walk(path, tolerate_torn_tail=True, decode_below=_MARK_BYTES):
            if isinstance(payload, tuple) and payload and payload[0] in (_BEGIN, _END):
                marks.append((offset, payload))
            elif offset and not (isinstance(payload, tuple) and payload[:1] == ("journal",)):
                changes.append(offset)
    except _TornTail as torn:
        valid = torn.offset
    return size, valid, marks, changes


def _read_commit_record(path: Path, generation: int) -> tuple[int, int] | None:
    """``(sequence, committed length)`` from the commit record ``path``, or None (absent, or
    neither slot readable)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    best = None
    for start in _COMMIT_SLOTS:
        slot = data[start : start + _COMMIT.size]
        if len(slot) < _COMMIT.size:
            continue
        magic, gen, sequence, length, crc = _COMMIT.unpack(slot)
        if magic != _COMMIT_MAGIC or gen != generation or zlib.crc32(slot[:-4]) != crc:
            continue
        if best is None or sequence > best[0]:
            best = (sequence, length)
    return best


def _commit_slot(generation: int, sequence: int, length: int) -> bytes:
    head = struct.pack("<4sQQQ", _COMMIT_MAGIC, generation, sequence, length)
    return head + struct.pack("<I", zlib.crc32(head))


def _next_valid_frame(data: bytes, start: int) -> int | None:
    position = data.find(_MAGIC, start)
    while position != -1:
        if _frame_at(data, position) is not None:
            return position
        position = data.find(_MAGIC, position + 1)
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
