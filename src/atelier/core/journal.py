"""An append-only journal of framed records, for in-process state that must survive a
restart (the embedded EVM chain's key-value store, the embedded Solana runtime's accounts),
and the lock that keeps such state to one process.

Each record is `op (1 byte) | key length | value length | key | value | crc32`. Replaying
reads records up to the first one cut short or corrupt (a crash mid-write) and truncates the
file there, so the next append starts on a clean boundary.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from atelier.core.logging import get_logger

log = get_logger(__name__)

_HEADER = struct.Struct("<cII")
Record = tuple[bytes, bytes, bytes]  # op, key, value


def _frame(op: bytes, key: bytes, value: bytes) -> bytes:
    body = _HEADER.pack(op, len(key), len(value)) + key + value
    return body + struct.pack("<I", zlib.crc32(body))


def replay(path: Path, ops: frozenset[bytes]) -> Iterator[Record]:
    """The journal's records in order; a torn or corrupt tail (or an unknown op) is cut off."""
    if not path.exists():
        return
    data = path.read_bytes()
    position = good = 0
    records: list[Record] = []
    while position + _HEADER.size + 4 <= len(data):
        op, key_len, value_len = _HEADER.unpack_from(data, position)
        end = position + _HEADER.size + key_len + value_len
        if end + 4 > len(data) or op not in ops:
            break
        body = data[position:end]
        (crc,) = struct.unpack_from("<I", data, end)
        if zlib.crc32(body) != crc:
            break
        key = body[_HEADER.size : _HEADER.size + key_len]
        records.append((op, key, body[_HEADER.size + key_len :]))
        position = good = end + 4
    if good < len(data):
        log.warning("journal.tail_dropped", path=str(path), bytes=len(data) - good)
        with path.open("r+b") as handle:
            handle.truncate(good)
    yield from records


class Journal:
    """Appends records to `path`; `flush` makes them durable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = path.open("ab")
        self._dirty = False

    def append(self, op: bytes, key: bytes, value: bytes = b"") -> None:
        self._file.write(_frame(op, key, value))
        self._dirty = True

    def flush(self) -> None:
        if self._dirty:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._dirty = False

    def size(self) -> int:
        return self.path.stat().st_size

    def rewrite(self, records: Iterable[Record]) -> None:
        """Replace the journal by `records` (compaction), atomically."""
        self._file.close()
        fresh = self.path.with_suffix(".compacting")
        with fresh.open("wb") as out:
            for op, key, value in records:
                out.write(_frame(op, key, value))
            out.flush()
            os.fsync(out.fileno())
        os.replace(fresh, self.path)
        self._file = self.path.open("ab")
        self._dirty = False

    def close(self) -> None:
        self.flush()
        self._file.close()


class DirectoryInUse(RuntimeError):
    """Another process holds the directory (its pid is in the message)."""


def hold_directory(directory: Path, what: str, hint: str) -> BinaryIO:
    """An exclusive lock on `directory` for this process's life: state in one process's
    memory is that process's, and two appending to one journal would corrupt it. The lock
    file names the holder's pid, which the refusal quotes (with `hint`)."""
    handle = (directory / "lock").open("a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().decode(errors="replace").strip() or "?"
        handle.close()
        raise DirectoryInUse(f"{what} in {directory} is open in process {holder}: {hint}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle
