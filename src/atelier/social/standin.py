"""A stand-in Farcaster hub for development and tests: the hub HTTP API's reads
(`/v1/info`, `/v1/castsByFid`, `/v1/castById`, `/v1/userDataByFid`, `/v1/events`) and
`/v1/submitMessage`, over messages it checked as a hub does (BLAKE3 hash, ed25519
signature). No Farcaster hub runs offline, so `ATELIER_FARCASTER_HUB_URL=embedded` serves
this one at `/farcaster/hub`; the platform's indexer reads it over HTTP like any hub.

It is not a hub: it keeps no key registry (any valid signature is accepted), no storage
limits, no peers. Submissions come from this machine only and are journalled to
`$ATELIER_HOME/farcaster/hub.jsonl`, so its messages and event ids survive a restart.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.social import farcaster
from atelier.social.farcaster import MessageRefused, Verified
from atelier.social.hub import BODY_OF

MAX_PAGE = 1000


@dataclass(frozen=True)
class StoredEvent:
    id: int
    type: str
    message: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        body = BODY_OF[self.type]
        payload: dict[str, Any] = {"message": self.message}
        if body == "mergeMessageBody":
            payload["deletedMessages"] = []
        return {"type": self.type, "id": self.id, body: payload}


class StandinHub:
    """The stand-in's state: checked messages by hash and the event log, in memory and
    journalled (one JSON line per accepted message)."""

    def __init__(self, journal: Path | None = None, *, first_event_id: int = 1) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self._events: list[StoredEvent] = []
        self._casts: dict[str, dict[str, Any]] = {}  # hash → message (removed ones dropped)
        self._user_data: dict[tuple[int, str], dict[str, Any]] = {}
        self._next_id = first_event_id
        self._seen: set[str] = set()
        if journal is not None and journal.exists():
            for line in journal.read_text().splitlines():
                if line.strip():
                    self._merge(farcaster.verify(json.loads(line)), journalled=True)

    @property
    def next_event_id(self) -> int:
        return self._next_id

    def submit(self, message: dict[str, Any]) -> Verified:
        """Check and merge a message (a repeat is accepted once). Raises `MessageRefused`."""
        verified = farcaster.verify(message)
        with self._lock:
            self._merge(verified, journalled=False)
        return verified

    def _merge(self, verified: Verified, *, journalled: bool) -> None:
        key = "0x" + verified.hash.hex()
        if key in self._seen:
            return
        self._seen.add(key)
        if verified.kind == farcaster.CAST_ADD:
            self._casts[key] = verified.raw
        elif verified.kind == farcaster.CAST_REMOVE:
            self._casts.pop(str(verified.body.get("targetHash")), None)
        elif verified.kind == farcaster.USER_DATA_ADD:
            self._user_data[(verified.fid, str(verified.body["type"]))] = verified.raw
        merged = StoredEvent(self._next_id, "HUB_EVENT_TYPE_MERGE_MESSAGE", verified.raw)
        self._events.append(merged)
        self._next_id += 1
        if self._journal is not None and not journalled:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            with self._journal.open("a") as out:
                out.write(json.dumps(verified.raw, separators=(",", ":")) + "\n")

    def prune_events(self, keep_last: int) -> None:
        """Forget all but the newest `keep_last` events (a hub's event retention)."""
        with self._lock:
            self._events = self._events[-keep_last:] if keep_last else []

    def events(self, from_event_id: int, page_size: int) -> dict[str, Any]:
        size = max(1, min(page_size, MAX_PAGE))
        with self._lock:
            page = [e for e in self._events if e.id >= from_event_id][:size]
        following = page[-1].id + 1 if page else max(from_event_id, 0)
        if not page and from_event_id > self._next_id:
            following = self._next_id
        return {"events": [e.as_json() for e in page], "nextPageEventId": following}

    def casts_by_fid(self, fid: int, page_size: int, page_token: str | None) -> dict[str, Any]:
        with self._lock:
            casts = [m for m in self._casts.values() if m["data"]["fid"] == fid]
        start = int(page_token) if page_token and page_token.isdigit() else 0
        size = max(1, min(page_size, MAX_PAGE))
        page = casts[start : start + size]
        token = str(start + size) if start + size < len(casts) else ""
        return {"messages": page, "nextPageToken": token}

    def cast_by_id(self, fid: int, hash_hex: str) -> dict[str, Any] | None:
        found = self._casts.get(hash_hex.lower())
        return found if found is not None and found["data"]["fid"] == fid else None

    def user_data_by_fid(self, fid: int) -> dict[str, Any]:
        with self._lock:
            found = [m for (owner, _), m in self._user_data.items() if owner == fid]
        return {"messages": found}

    def info(self) -> dict[str, Any]:
        return {
            "version": "atelier-standin",
            "isSyncing": False,
            "nickname": "atelier development hub",
            "dbStats": {"numMessages": len(self._casts) + len(self._user_data)},
        }


def submitted(raw: bytes) -> dict[str, Any]:
    """The JSON of a submitted protobuf message (checked later by `StandinHub.submit`)."""
    if len(raw) > 4096:
        raise MessageRefused("a message is at most 4 KiB")
    return farcaster.decode_message(raw)
