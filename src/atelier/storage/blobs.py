"""Blob storage behind one interface. Local filesystem today; S3 and IPFS join with the
provenance issue. Keys are content addressed (`sha256/ab/cd/<hex>`), so storing the same bytes
twice is a no-op and a key names exactly one content."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from atelier.core.secrets import ensure_private_dir

CHUNK = 1 << 20


class BlobStore(Protocol):
    def put_file(self, path: Path, *, sha256: str | None = None, move: bool = False) -> str:
        """Store the file's bytes; return its key. A caller that has just hashed the file
        passes `sha256` (it is not read twice); with `move`, a file that is the caller's to
        give up is moved into place rather than copied (when on the same filesystem)."""
        ...

    def path(self, key: str) -> Path:
        """A local path to read the blob from."""
        ...

    def exists(self, key: str) -> bool: ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def key_for(sha256_hex: str) -> str:
    return f"sha256/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        ensure_private_dir(self.root)  # what creators made is theirs to see, not other users

    def put_file(self, path: Path, *, sha256: str | None = None, move: bool = False) -> str:
        key = key_for(sha256 or sha256_file(path))
        target = self.root / key
        if target.exists():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.replace(path, target)  # atomic, and no copy
                return key
            except OSError:  # another filesystem: copy as below
                pass
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)  # atomic: readers never see a partial blob
        return key

    def path(self, key: str) -> Path:
        if ".." in key.split("/"):
            raise ValueError("bad blob key")
        return self.root / key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


def store_for(home_blobs: Path) -> BlobStore:
    """The blob store of this installation (local filesystem; S3/IPFS join later)."""
    return LocalBlobStore(home_blobs)


def copy_stream(source: BinaryIO, target: Path, limit: int) -> int:
    """Copy at most `limit` bytes; raise ValueError past it. Returns the size."""
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise ValueError(f"file exceeds {limit} bytes")
            out.write(chunk)
    return size
