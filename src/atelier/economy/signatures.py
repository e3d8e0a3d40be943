"""Providers' webhook signatures, checked on the raw bytes before anything parses them.

GitHub (`X-Hub-Signature-256: sha256=<hex>`): HMAC-SHA256 under the webhook's secret over the
raw body. GitHub signs no timestamp: a replay is recognised by its delivery id instead.

Stripe (`Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]`): HMAC-SHA256 under the
endpoint's secret over `"<t>.<raw body>"`; any `v1` may match (Stripe signs with every
active secret while one is being rolled), and `t` must be within the tolerance, so a
captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

from atelier.core.errors import Unauthorized


def stripe_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `v1` signature Stripe computes (tests sign deliveries with it too)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def check_stripe(
    secret: str, header: str | None, body: bytes, now: float, tolerance_s: int
) -> None:
    """Raise 401 `bad-signature` unless `header` signs `body` with `secret`, recently."""
    if not header:
        raise Unauthorized("no Stripe-Signature header", slug="bad-signature")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and len(value) == 64:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise Unauthorized("the Stripe-Signature header is malformed", slug="bad-signature")
    if abs(now - timestamp) > tolerance_s:
        raise Unauthorized(
            f"the delivery is signed {int(now - timestamp)} s from now; at most {tolerance_s} s",
            slug="stale-signature",
        )
    expected = stripe_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise Unauthorized("no v1 signature matches this endpoint's secret", slug="bad-signature")


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends (tests sign deliveries with it too)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_github(secret: str, header: str | None, body: bytes) -> None:
    if not header or not header.startswith("sha256=") or len(header) != 71:
        raise Unauthorized("no valid X-Hub-Signature-256 header", slug="bad-signature")
    if not hmac.compare_digest(github_signature(secret, body), header):
        raise Unauthorized(
            "the signature does not match this webhook's secret", slug="bad-signature"
        )
