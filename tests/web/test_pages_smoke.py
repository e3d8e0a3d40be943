"""Pages answer, carry their security headers and refuse a form without its CSRF token
(quick checks in process; the flows run in a real browser in test_browser.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from atelier.core.errors import Forbidden
from atelier.core.runtime import Runtime
from atelier.identity.principal import ClientInfo
from atelier.identity.service import wallets
from atelier.web.frame import CSRF_COOKIE


async def test_pages_render_with_their_headers(client: httpx.AsyncClient) -> None:
    for path in (
        "/",
        "/register",
        "/sign-in",
        "/grid",
        "/verify-email?token=x",
        "/transparency",
        "/market",
    ):
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert '<main id="main">' in page.text
    for members_only in (
        "/dashboard",
        "/dashboard/earnings",
        "/films",
        f"/films/scripts/{uuid.uuid4()}",
    ):
        answer = await client.get(members_only)
        assert answer.status_code == 303 and answer.headers["location"] == "/sign-in"


async def test_a_form_without_its_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    client.cookies.clear()
    refused = await client.post("/sign-in", data={"email": "a@example.org", "password": "x"})
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/csrf-failed"
    await client.get("/sign-in")
    token = client.cookies[CSRF_COOKIE]
    wrong = await client.post(
        "/sign-in", data={"email": "a@example.org", "password": "x", "csrf": token + "x"}
    )
    assert wrong.status_code == 403


async def test_the_apis_problem_is_shown_beside_its_field(client: httpx.AsyncClient) -> None:
    await client.get("/register")
    token = client.cookies[CSRF_COOKIE]
    answer = await client.post(
        "/register",
        data={"email": "new@example.org", "password": "short", "csrf": token, "display_name": "Al"},
    )
    assert answer.status_code == 422
    assert 'id="e-password"' in answer.text  # the message sits under the password field
    assert 'value="new@example.org"' in answer.text  # what was typed is kept
    assert 'value="Al"' in answer.text


async def test_static_files_are_only_the_sites_own(client: httpx.AsyncClient) -> None:
    htmx = await client.get("/static/vendor/htmx.org-htmx.min.js")
    assert htmx.status_code == 200 and "javascript" in htmx.headers["content-type"]
    for bad in ("/static/../frame.py", "/static/%2e%2e/frame.py", "/static/nothing.js"):
        assert (await client.get(bad)).status_code == 404


async def test_development_wallets_only_on_a_local_atelier(runtime: Runtime) -> None:
    """A public deployment (or one on a real chain) never makes accounts without a wallet
    signature."""
    public = runtime.settings.model_copy(update={"public_url": "https://atelier.example"})
    real_chain = runtime.settings.model_copy(update={"chain_rpc_url": "https://rpc.example"})
    client = ClientInfo(ip="127.0.0.1", user_agent="test")
    for settings in (public, real_chain):
        assert not wallets.development_wallets_allowed(settings)
        async with runtime.sessions() as session:
            with pytest.raises(Forbidden):
                await wallets.development_wallet_sign_in(session, settings, b"k" * 32, client)
    assert wallets.development_wallets_allowed(runtime.settings)
