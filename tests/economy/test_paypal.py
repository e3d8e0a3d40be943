"""PayPal webhooks, signed as PayPal signs them (RSA-SHA256 over "id|time|webhook id|crc32")
under a certificate served from a local stand-in for PayPal's certificate host: captures,
refunds and reversals post once; pledges made through /api/v1/donate are confirmed by the
capture naming them; forged, stale, foreign and malformed deliveries post nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import money, paypal
from atelier.economy.signatures import paypal_signed_text
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key
from tests.helpers import bearer

WEBHOOK_ID = "WH-4M0" + "7" * 12
CERT_URL = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
CLEARING = ("Assets:Clearing:PayPal", "USD")


def _keypair(common_name: str) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


PAYPAL_KEY, PAYPAL_CERT = _keypair("messageverificationcerts.paypal.com")
OTHER_KEY, OTHER_CERT = _keypair("messageverificationcerts.example.com")
FETCHED: list[str] = []


def _paypal_host(request: httpx.Request) -> httpx.Response:
    """PayPal's certificate host: our test certificate, another one, or a failure."""
    FETCHED.append(str(request.url))
    path = request.url.path
    if path.endswith("-foreign"):
        return httpx.Response(200, content=OTHER_CERT)
    if path.endswith("-down"):
        return httpx.Response(503)
    return httpx.Response(200, content=PAYPAL_CERT)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, paypal_webhook_id=WEBHOOK_ID
    )


@pytest.fixture(scope="module", autouse=True)
def paypal_stand_in(runtime: Runtime) -> None:
    runtime.adapters[paypal.ADAPTER] = httpx.AsyncClient(
        transport=httpx.MockTransport(_paypal_host)
    )


def _event(event_type: str, value: str, currency: str = "USD", **resource: Any) -> bytes:
    return json.dumps(
        {
            "id": f"WH-{uuid.uuid4().hex[:20].upper()}",
            "event_type": event_type,
            "resource": {
                "id": uuid.uuid4().hex[:17].upper(),
                "amount": {"currency_code": currency, "value": value},
                **resource,
            },
        }
    ).encode()


def _signed(
    body: bytes,
    *,
    key: rsa.RSAPrivateKey = PAYPAL_KEY,
    webhook_id: str = WEBHOOK_ID,
    sent: datetime | None = None,
    cert_url: str = CERT_URL,
) -> dict[str, str]:
    transmission = str(uuid.uuid4())
    at = (sent or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = key.sign(
        paypal_signed_text(transmission, at, webhook_id, body), padding.PKCS1v15(), hashes.SHA256()
    )
    return {
        "PAYPAL-TRANSMISSION-ID": transmission,
        "PAYPAL-TRANSMISSION-TIME": at,
        "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
        "PAYPAL-CERT-URL": cert_url,
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "Content-Type": "application/json",
    }


async def _clearing(runtime: Runtime) -> int:
    async with unit_of_work(runtime) as session:
        return (await money.balances(session)).get(CLEARING, 0)


async def test_a_capture_delivered_twenty_times_at_once_posts_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await _clearing(runtime)
    body = _event("PAYMENT.CAPTURE.COMPLETED", "12.34")
    answers = await asyncio.gather(
        *(client.post("/webhooks/paypal", content=body, headers=_signed(body)) for _ in range(20))
    )
    assert sorted(a.json()["outcome"] for a in answers) == ["applied"] + ["duplicate"] * 19
    assert await _clearing(runtime) - before == 1234
    refund = _event("PAYMENT.CAPTURE.REFUNDED", "2.00")
    answer = await client.post("/webhooks/paypal", content=refund, headers=_signed(refund))
    assert answer.json()["outcome"] == "applied"
    assert await _clearing(runtime) - before == 1034


async def test_a_pledge_is_not_money_until_a_capture_names_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    before = await _clearing(runtime)
    pledged = await client.post(
        "/api/v1/donate",
        headers=bearer(key),
        json={"amount": 2_500, "currency": "USD", "message": "for the GPU folks"},
    )
    assert pledged.status_code == 201, pledged.text
    pledge = pledged.json()
    assert pledge["state"] == "pledged" and str(pledge["id"]) in pledge["pay_with"]["paypal"]
    assert await _clearing(runtime) == before  # a pledge posts nothing
    body = _event("PAYMENT.CAPTURE.COMPLETED", "25.00", custom_id=pledge["id"])
    await client.post("/webhooks/paypal", content=body, headers=_signed(body))
    mine = (await client.get("/api/v1/user/pledges", headers=bearer(key))).json()
    assert mine[0]["state"] == "confirmed" and mine[0]["confirmed_at"]
    assert await _clearing(runtime) - before == 2_500


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 1.5},
        {"amount": "25.00"},
        {"amount": 10**12},
        {"amount": 100, "currency": "usd"},
        {"amount": 100, "currency": "JPY"},
        {"amount": 100, "message": "nul\x00"},
        {"amount": 100, "message": "m" * 501},
        {"amount": 100, "extra": 1},
    ],
)
async def test_bad_pledges_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any]
) -> None:
    _, key = await account_with_key(runtime)
    answer = await client.post("/api/v1/donate", headers=bearer(key), json=body)
    assert answer.status_code == 422, answer.text
    assert (await client.get("/api/v1/user/pledges", headers=bearer(key))).json() == []


async def test_a_pledge_needs_a_key(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/donate", json={"amount": 100})).status_code == 401


@pytest.mark.parametrize(
    ("make_headers", "status", "slug"),
    [
        (lambda b: _signed(b, key=OTHER_KEY), 401, "bad-signature"),
        (lambda b: _signed(b, webhook_id="WH-SOMEONE-ELSES"), 401, "bad-signature"),
        (lambda b: _signed(b, sent=datetime.now(UTC) - timedelta(hours=2)), 401, "stale-signature"),
        (
            lambda b: _signed(b, cert_url="https://evil.example/v1/notifications/certs/C"),
            401,
            "bad-signature",
        ),
        (
            lambda b: _signed(b, cert_url="http://api.paypal.com/v1/notifications/certs/C"),
            401,
            "bad-signature",
        ),
        (
            lambda b: _signed(
                b, cert_url="https://api.paypal.com.evil.example/v1/notifications/certs/C"
            ),
            401,
            "bad-signature",
        ),
        (lambda b: _signed(b, cert_url="https://api.paypal.com/v1/other/C"), 401, "bad-signature"),
        (
            lambda b: _signed(b, key=OTHER_KEY, cert_url=CERT_URL[:-8] + "-foreign"),
            401,
            "bad-signature",
        ),
        (lambda b: _signed(b, cert_url=CERT_URL[:-8] + "-down"), 503, "paypal-unavailable"),
        (lambda b: {**_signed(b), "PAYPAL-AUTH-ALGO": "SHA1withRSA"}, 401, "bad-signature"),
        (lambda b: {**_signed(b), "PAYPAL-TRANSMISSION-SIG": "%%%"}, 401, "bad-signature"),
        (lambda b: {"Content-Type": "application/json"}, 401, "bad-signature"),
    ],
)
async def test_forged_foreign_and_stale_deliveries_post_nothing(
    client: httpx.AsyncClient, runtime: Runtime, make_headers: Any, status: int, slug: str
) -> None:
    before = await _clearing(runtime)
    fetched = len(FETCHED)
    body = _event("PAYMENT.CAPTURE.COMPLETED", "9.99")
    headers = make_headers(body)
    answer = await client.post("/webhooks/paypal", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["type"] == f"/problems/{slug}"
    assert await _clearing(runtime) == before
    if "paypal.com/" not in headers.get("PAYPAL-CERT-URL", "") or "http://" in headers.get(
        "PAYPAL-CERT-URL", ""
    ):
        assert len(FETCHED) == fetched  # a foreign certificate URL is never fetched


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        (_event("PAYMENT.CAPTURE.COMPLETED", "10.005"), "malformed-event"),
        (_event("PAYMENT.CAPTURE.COMPLETED", "-1.00"), "malformed-event"),
        (_event("PAYMENT.CAPTURE.COMPLETED", "1e3"), "malformed-event"),
        (_event("PAYMENT.CAPTURE.COMPLETED", "99999999999999.00"), "malformed-event"),
        (_event("PAYMENT.CAPTURE.COMPLETED", "1000", currency="JPY"), "malformed-event"),
        (_event("BILLING.SUBSCRIPTION.CREATED", "1.00"), "unknown-event"),
        (b"{}", "malformed-event"),
    ],
)
async def test_malformed_and_unknown_events_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, body: bytes, slug: str
) -> None:
    before = await _clearing(runtime)
    answer = await client.post("/webhooks/paypal", content=body, headers=_signed(body))
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == f"/problems/{slug}"
    assert await _clearing(runtime) == before


async def test_unconfigured_paypal_answers_503(runtime: Runtime, tmp_path: Path) -> None:
    from atelier.server.app import create_app

    bare = replace(runtime, settings=make_settings(tmp_path, runtime.database_url))
    transport = httpx.ASGITransport(app=create_app(bare.settings, runtime=bare))
    async with httpx.AsyncClient(transport=transport, base_url=bare.settings.origin) as http:
        body = _event("PAYMENT.CAPTURE.COMPLETED", "1.00")
        answer = await http.post("/webhooks/paypal", content=body, headers=_signed(body))
    assert answer.status_code == 503
    assert answer.json()["type"] == "/problems/webhooks-not-configured"
