"""What a rule can do. Each action is checked when the rule is saved (its kind, its fields,
whether the owner may) and performed by one step of the rule's run (flows.py), so a failing
action is retried alone and the ones before it are not repeated.

- `submit_job` {job, prompt}: a grid job of kind `job` as the rule's owner, charged to their
  quota; it is queued in the step's own transaction (exactly once).
- `post_cast` {text}: a cast as the platform's Farcaster account (admins' rules only); signed
  with the run's start as its timestamp, so a retried step sends the same message, which a
  hub keeps once.
- `webhook` {url, body}: a JSON POST with `X-Atelier-Delivery` (the same on a retry, for the
  receiver to drop repeats) and `X-Atelier-Signature` (HMAC-SHA256 of the body with the
  rule's id as key context); public addresses only unless the operator allows private ones.
- `email` {subject, body}: to the rule's owner (never to an address the rule names).
- `create_proposal` {title, body}: an off-chain proposal by the owner, open for the usual
  window (one per run: created in the step's transaction).
- `run_agent` {template, prompt}: an AI studio agent as the owner, planned and started in
  the step's transaction (its own flow then runs; its jobs take the owner's quota).
- `list_nft` {nft, price}: the owner's minted NFT listed at a fixed `price` in lamports from
  their market wallet (its escrow deposit is sent in the step; the listing's id is the
  step's, so a retry whose deposit landed records it without depositing again).
- `reprice_nft` {nft, price}: a new price in lamports for the NFT's open fixed-price listing.

Texts are templates: `{field}` takes the triggering event's field.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from atelier.automation import conditions as conds
from atelier.core.config import Settings
from atelier.grid.specs import KINDS as JOB_KINDS
from atelier.studio.templates import TEMPLATES


class ActionKind(StrEnum):
    SUBMIT_JOB = "submit_job"
    POST_CAST = "post_cast"
    WEBHOOK = "webhook"
    EMAIL = "email"
    CREATE_PROPOSAL = "create_proposal"
    RUN_AGENT = "run_agent"
    LIST_NFT = "list_nft"
    REPRICE_NFT = "reprice_nft"


KINDS = tuple(ActionKind)
MAX_ACTIONS = 5
FIELDS = {
    "submit_job": {"job": 20, "prompt": 500},
    "post_cast": {"text": 320},
    "webhook": {"url": 500, "body": 4000},
    "email": {"subject": 200, "body": 4000},
    "create_proposal": {"title": 200, "body": 4000},
    "run_agent": {"template": 30, "prompt": 1000},
    "list_nft": {"nft": 60, "price": 40},
    "reprice_nft": {"nft": 60, "price": 40},
}
REQUIRED = {"submit_job": ("job", "prompt"), "post_cast": ("text",), "webhook": ("url",)}
REQUIRED["email"] = ("subject", "body")
REQUIRED["create_proposal"] = ("title",)
REQUIRED["run_agent"] = ("template", "prompt")
REQUIRED["list_nft"] = REQUIRED["reprice_nft"] = ("nft", "price")


class ActionError(ValueError):
    """An action a rule cannot have (said in words, with its index)."""


def check(actions: list[dict[str, Any]], *, admin: bool) -> None:
    if not actions:
        raise ActionError("a rule needs at least one action")
    if len(actions) > MAX_ACTIONS:
        raise ActionError(f"a rule has at most {MAX_ACTIONS} actions")
    for index, action in enumerate(actions):
        where = f"action {index + 1}"
        kind = action.get("kind")
        if kind not in KINDS:
            raise ActionError(f"{where}: {kind!r} is not one of {', '.join(KINDS)}")
        allowed = FIELDS[str(kind)]
        for name, value in action.items():
            if name == "kind":
                continue
            if name not in allowed:
                raise ActionError(f"{where}: {kind} has no field {name!r}")
            if not isinstance(value, str) or len(value) > allowed[name]:
                raise ActionError(f"{where}: {name} is text of at most {allowed[name]} characters")
        missing = [n for n in REQUIRED[str(kind)] if not str(action.get(n, "")).strip()]
        if missing:
            raise ActionError(f"{where}: {kind} needs {', '.join(missing)}")
        _check_kind(where, str(kind), action, admin)


def _check_kind(where: str, kind: str, action: dict[str, Any], admin: bool) -> None:
    if kind == "post_cast" and not admin:
        raise ActionError(f"{where}: only an admin's rule may cast as the platform")
    if kind == "submit_job" and action["job"] not in JOB_KINDS:
        raise ActionError(f"{where}: {action['job']!r} is not a job kind")
    if kind == "run_agent" and action["template"] not in TEMPLATES:
        raise ActionError(f"{where}: {action['template']!r} is not an agent template")
    if kind in ("list_nft", "reprice_nft"):
        try:
            nft_and_price(action)
        except ValueError as exc:
            raise ActionError(f"{where}: {exc}") from None
    if kind == "webhook":
        parts = urlsplit(str(action["url"]))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ActionError(f"{where}: the webhook URL must be http(s)://host/…")


def nft_and_price(action: dict[str, Any]) -> tuple[uuid.UUID | None, int | None]:
    """An NFT action's id and lamports (None for a `{field}` the event fills in later);
    ValueError, in words, for what cannot be one."""
    nft, price = str(action["nft"]).strip(), str(action["price"]).strip()
    nft_id = None if conds.is_template(nft) else _nft_id(nft)
    lamports = None if conds.is_template(price) else _lamports(price)
    return nft_id, lamports


def _nft_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError(f"nft is an NFT's id (a UUID), not {text[:60]!r}") from None


def _lamports(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) < 2**64:
        raise ValueError(f"price is a whole number of lamports (1 SOL = 10⁹), not {text[:40]!r}")
    return int(text)


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes
    delivery_id: str
    signature: str


class TargetRefused(Exception):
    """A webhook target this server may not call (a private address)."""


async def public_address(settings: Settings, host: str, port: int) -> str | None:
    """The address to call `host` at: every address it resolves to must be public (no
    server-side request forgery into this machine or its network), and the one checked is
    the one connected to, so a second lookup cannot answer a private one (DNS rebinding).
    None when `ATELIER_AUTOMATION_PRIVATE_TARGETS` allows any target (resolved as usual)."""
    if settings.automation_private_targets:
        return None
    try:
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(f"{host} does not resolve") from None
    addresses = [ipaddress.ip_address(address[0]) for *_, address in found]
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if any(not ip.is_global for ip in addresses):
        raise TargetRefused(f"{host} is a private address; webhooks go to public hosts")
    return str(addresses[0])


def pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The request to `url` sent to `address` instead of a fresh lookup: the URL with the
    address, the `Host` header and the TLS server name of the original host (so its
    certificate is checked against its name)."""
    parts = urlsplit(url)
    if address is None or parts.hostname is None:
        return url, {}, {}
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    named = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    extensions: dict[str, Any] = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": named}, extensions


async def post_webhook(settings: Settings, delivery: Delivery) -> dict[str, Any]:
    parts = urlsplit(delivery.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = await public_address(settings, parts.hostname or "", port)
    url, host, extensions = pinned(delivery.url, address)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Atelier-Automation",
        "X-Atelier-Delivery": delivery.delivery_id,
        "X-Atelier-Signature": delivery.signature,
        **host,
    }
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        answer = await http.post(url, content=delivery.body, headers=headers, extensions=extensions)
    if answer.status_code >= 400:
        raise RuntimeError(f"the webhook answered HTTP {answer.status_code}")
    return {"status": answer.status_code}


def webhook_body(template: str | None, payload: dict[str, Any], render: Any) -> bytes:
    """The body sent: the rendered template when it is JSON, else the event itself."""
    if template:
        text = render(template, payload)
        try:
            return json.dumps(json.loads(text)).encode()
        except ValueError:
            return json.dumps({"text": text}).encode()
    return json.dumps({"event": payload}).encode()
