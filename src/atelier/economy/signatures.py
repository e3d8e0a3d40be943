"""Providers' webhook signatures, checked on the raw bytes before anything parses them
(GitHub, Stripe and PayPal, each by its own scheme).

GitHub (`X-Hub-Signature-256: sha256=<hex>`): HMAC-SHA256 under the webhook's secret over the
raw body. GitHub signs no timestamp: a replay is recognised by its delivery id instead.

Stripe (`Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]`): HMAC-SHA256 under the
endpoint's secret over `"<t>.<raw body>"`; any `v1` may match (Stripe signs with every
active secret while one is being rolled), and `t` must be within the tolerance, so a
captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

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


# PayPal (`PAYPAL-TRANSMISSION-SIG`): base64 RSA-SHA256 (PKCS#1 v1.5) by the key of the
# certificate at `PAYPAL-CERT-URL` over "<transmission id>|<transmission time>|<our
# webhook id>|<CRC32 of the raw body, decimal>". The certificate is fetched only from
# PayPal's own hosts over HTTPS (a forger would otherwise point us at a certificate of
# their own); the webhook id ties the delivery to our endpoint, and the transmission time
# must be recent.
PAYPAL_HOSTS = (
    "api.paypal.com",
    "api-m.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.sandbox.paypal.com",
)
PAYPAL_CERT_PATH = "/v1/notifications/certs/"


def paypal_signed_text(transmission_id: str, time: str, webhook_id: str, body: bytes) -> bytes:
    return f"{transmission_id}|{time}|{webhook_id}|{zlib.crc32(body)}".encode()


def check_paypal_cert_url(url: str | None) -> str:
    """The certificate URL if it is PayPal's own (HTTPS, a PayPal API host, the certs
    path); 401 otherwise, before anything is fetched."""
    if not url or len(url) > 500:
        raise Unauthorized("no PAYPAL-CERT-URL header", slug="bad-signature")
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or parts.hostname not in PAYPAL_HOSTS
        or parts.port not in (None, 443)
        or parts.username is not None
        or not parts.path.startswith(PAYPAL_CERT_PATH)
        or ".." in parts.path
        or parts.query
        or parts.fragment
    ):
        raise Unauthorized("the certificate URL is not one of PayPal's", slug="bad-signature")
    return url


def check_paypal(
    cert_pem: bytes,
    headers: Mapping[str, str],
    body: bytes,
    webhook_id: str,
    now: datetime,
    tolerance_s: int,
) -> None:
    """Raise 401 unless the delivery's transmission signature verifies under the PayPal
    certificate `cert_pem` (valid now, issued to a paypal.com name), recently."""
    transmission_id = headers.get("paypal-transmission-id", "")
    sent = headers.get("paypal-transmission-time", "")
    signature = headers.get("paypal-transmission-sig", "")
    if headers.get("paypal-auth-algo", "") != "SHA256withRSA":
        raise Unauthorized("PAYPAL-AUTH-ALGO is not SHA256withRSA", slug="bad-signature")
    if not (0 < len(transmission_id) <= 100 and 0 < len(signature) <= 2048):
        raise Unauthorized("the PayPal transmission headers are missing", slug="bad-signature")
    try:
        sent_at = datetime.fromisoformat(sent.replace("Z", "+00:00"))
        raw_signature = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise Unauthorized(
            "the PayPal transmission headers are malformed", slug="bad-signature"
        ) from None
    if sent_at.tzinfo is None or abs((now - sent_at).total_seconds()) > tolerance_s:
        raise Unauthorized(
            f"the delivery was sent at {sent[:40]}; at most {tolerance_s} s ago",
            slug="stale-signature",
        )
    key = _paypal_key(cert_pem, now)
    try:
        key.verify(
            raw_signature,
            paypal_signed_text(transmission_id, sent, webhook_id, body),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise Unauthorized(
            "the transmission signature does not verify for this webhook", slug="bad-signature"
        ) from None


def _paypal_key(cert_pem: bytes, now: datetime) -> rsa.RSAPublicKey:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise Unauthorized("PayPal's certificate does not parse", slug="bad-signature") from None
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not any(n == "paypal.com" or n.endswith(".paypal.com") for n in names):
        raise Unauthorized("the certificate is not issued to PayPal", slug="bad-signature")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Unauthorized("PayPal's certificate is not valid now", slug="bad-signature")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unauthorized("PayPal's certificate holds no RSA key", slug="bad-signature")
    return key
