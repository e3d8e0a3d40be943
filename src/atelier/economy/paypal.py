"""PayPal's signing certificates: fetched from PayPal's own hosts only (the URL is checked
first, `signatures.check_paypal_cert_url`), at most 64 KiB, within 10 s, and kept per URL
for a day (PayPal signs with the same certificate for months; a delivery storm costs one
fetch). The HTTP client is a runtime adapter, so a deployment behind an egress proxy (and
the tests' local stand-in for PayPal) provides its own."""

from __future__ import annotations

import time

import httpx

from atelier.core.errors import ServiceUnavailable
from atelier.core.runtime import Runtime

MAX_CERT_BYTES = 64 * 1024
KEPT_S = 86_400.0
ADAPTER = "economy.paypal_http"
_CERTS = "economy.paypal_certs"


def _client(runtime: Runtime) -> httpx.AsyncClient:
    client = runtime.adapters.get(ADAPTER)
    if client is None:
        client = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        runtime.adapters[ADAPTER] = client
    assert isinstance(client, httpx.AsyncClient)
    return client


async def certificate(runtime: Runtime, url: str) -> bytes:
    """The PEM certificate at `url` (an already checked PayPal URL); 503 when PayPal does
    not serve it (PayPal retries the delivery)."""
    kept: dict[str, tuple[float, bytes]] = runtime.adapters.setdefault(_CERTS, {})
    found = kept.get(url)
    if found is not None and found[0] > time.monotonic():
        return found[1]
    try:
        async with _client(runtime).stream("GET", url) as answer:
            if answer.status_code != 200:
                raise ServiceUnavailable(
                    f"PayPal answered {answer.status_code} for its certificate",
                    slug="paypal-unavailable",
                )
            pem = b""
            async for chunk in answer.aiter_bytes():
                pem += chunk
                if len(pem) > MAX_CERT_BYTES:
                    raise ServiceUnavailable(
                        "PayPal's certificate is implausibly large", slug="paypal-unavailable"
                    )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"PayPal's certificate could not be fetched ({type(exc).__name__})",
            slug="paypal-unavailable",
        ) from None
    if len(kept) > 32:
        kept.clear()
    kept[url] = (time.monotonic() + KEPT_S, pem)
    return pem
