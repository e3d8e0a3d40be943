"""A Farcaster hub's HTTP API, as a client: casts by account, a cast by id, user data, the
event stream, and message submission.

A hub is someone else's server: its answers are read with a size cap and a timeout, and
anything that is not the JSON shape the API documents is a `HubError` (the indexer keeps its
place and tries again), never an exception from deep inside a parser. Messages are returned
unverified: `farcaster.verify` checks each before anything stores it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class HubError(Exception):
    """The hub could not be reached, or answered something that is not its API."""


@dataclass(frozen=True)
class HubEvent:
    id: int
    type: str  # HUB_EVENT_TYPE_MERGE_MESSAGE, …_PRUNE_MESSAGE, …_REVOKE_MESSAGE, others
    message: dict[str, Any] | None


@dataclass(frozen=True)
class EventsPage:
    events: list[HubEvent]
    next_event_id: int


BODY_OF = {
    "HUB_EVENT_TYPE_MERGE_MESSAGE": "mergeMessageBody",
    "HUB_EVENT_TYPE_PRUNE_MESSAGE": "pruneMessageBody",
    "HUB_EVENT_TYPE_REVOKE_MESSAGE": "revokeMessageBody",
}


class HubClient:
    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self._transport = transport

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with (
                httpx.AsyncClient(timeout=TIMEOUT, transport=self._transport) as http,
                http.stream(method, f"{self.base_url}{path}", **kwargs) as response,
            ):
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise HubError(f"the hub's answer to {path} is over 16 MiB")
                status = response.status_code
        except httpx.HTTPError as exc:
            raise HubError(f"the hub did not answer {path}: {type(exc).__name__}") from None
        if status == 404:
            return None
        if status >= 400:
            raise HubError(f"the hub answered {path} with HTTP {status}")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise HubError(f"the hub's answer to {path} is not JSON") from None

    async def _get(self, path: str, **params: Any) -> Any:
        return await self._call("GET", path, params={k: v for k, v in params.items() if v})

    async def info(self) -> dict[str, Any]:
        return _object(await self._get("/v1/info"), "/v1/info")

    async def casts_by_fid(
        self, fid: int, *, page_token: str | None = None, page_size: int = 100
    ) -> tuple[list[Any], str | None]:
        """One page of an account's casts, and the token of the next (None at the end)."""
        page = _object(
            await self._get("/v1/castsByFid", fid=fid, pageSize=page_size, pageToken=page_token),
            "/v1/castsByFid",
        )
        token = page.get("nextPageToken")
        return _list(page.get("messages"), "/v1/castsByFid"), token or None

    async def cast_by_id(self, fid: int, hash_hex: str) -> Any:
        return await self._get("/v1/castById", fid=fid, hash=hash_hex)

    async def user_data_by_fid(self, fid: int) -> list[Any]:
        found = _object(await self._get("/v1/userDataByFid", fid=fid) or {}, "/v1/userDataByFid")
        return _list(found.get("messages", []), "/v1/userDataByFid")

    async def events(self, from_event_id: int, *, page_size: int = 1000) -> EventsPage:
        """Events from `from_event_id` on (inclusive: a hub sends that event first if it still
        has it), oldest first."""
        page = _object(
            await self._call(
                "GET",
                "/v1/events",
                params={"from_event_id": from_event_id, "pageSize": page_size},
            ),
            "/v1/events",
        )
        events = [_event(raw) for raw in _list(page.get("events"), "/v1/events")]
        following = page.get("nextPageEventId", 0)
        if isinstance(following, str) and following.isdigit():
            following = int(following)
        if not isinstance(following, int) or isinstance(following, bool):
            raise HubError("the hub's nextPageEventId is not a number")
        return EventsPage(events, following)

    async def submit(self, wire: bytes) -> dict[str, Any]:
        """POST /v1/submitMessage: the protobuf `Message`; the hub answers it as JSON."""
        answer = await self._call(
            "POST",
            "/v1/submitMessage",
            content=wire,
            headers={"Content-Type": "application/octet-stream"},
        )
        return _object(answer, "/v1/submitMessage")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HubError(f"the hub's answer to {what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise HubError(f"the hub's answer to {what} has no list where one belongs")
    return value


def _event(raw: Any) -> HubEvent:
    event = _object(raw, "an event")
    number = event.get("id")
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    kind = event.get("type")
    if not isinstance(number, int) or isinstance(number, bool) or not isinstance(kind, str):
        raise HubError("an event without a numeric id and a type")
    body = event.get(BODY_OF.get(kind, ""), None)
    message = body.get("message") if isinstance(body, dict) else None
    return HubEvent(number, kind, message if isinstance(message, dict) else None)
