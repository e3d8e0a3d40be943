"""Registration, email verification, password login, refresh rotation, logout, profile."""

from __future__ import annotations

import httpx

from atelier.core.runtime import Runtime
from tests.helpers import (
    STRONG_PASSWORD,
    bearer,
    drain_tasks,
    mailbox_messages,
    register_verified,
    unique_email,
    verification_token_for,
)


async def test_register_verify_login_me(client: httpx.AsyncClient, runtime: Runtime) -> None:
    address = unique_email()
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": address.upper(), "password": STRONG_PASSWORD, "display_name": "Ada"},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["verification_required"] is True
    assert set(body) == {"verification_required", "detail"}  # nothing about the account

    blocked = await client.post(
        "/api/v1/auth/login", json={"email": address, "password": STRONG_PASSWORD}
    )
    assert blocked.status_code == 403
    assert blocked.json()["type"] == "/problems/email-not-verified"

    await drain_tasks(runtime)
    token = verification_token_for(runtime.settings.mailbox_dir, address)
    verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200
    assert verified.json()["email_verified"] is True

    again = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 422
    assert again.json()["type"] == "/problems/invalid-verification-token"

    login = await client.post(
        "/api/v1/auth/login", json={"email": address, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 200
    tokens = login.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == runtime.settings.access_token_ttl_s

    me = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == address
    assert me.json()["roles"] == ["creator"]
    assert me.json()["display_name"] == "Ada"


async def test_verification_email_is_sent_once_per_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    address = unique_email("once")
    await client.post("/api/v1/auth/register", json={"email": address, "password": STRONG_PASSWORD})
    await drain_tasks(runtime)
    await drain_tasks(runtime)
    sent = [m for m in mailbox_messages(runtime.settings.mailbox_dir) if m["To"] == address]
    assert len(sent) == 1
    assert sent[0]["Subject"] == "Verify your Atelier account"

    resend = await client.post("/api/v1/auth/resend-verification", json={"email": address})
    assert resend.status_code == 202
    unknown = await client.post(
        "/api/v1/auth/resend-verification", json={"email": unique_email("nobody")}
    )
    assert unknown.status_code == 202
    await drain_tasks(runtime)
    sent = [m for m in mailbox_messages(runtime.settings.mailbox_dir) if m["To"] == address]
    assert len(sent) == 2


async def test_registration_does_not_tell_who_has_an_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """An address with an account gets the same answer as a new one; its owner is told by
    email (once a day however often it is tried), and no second account appears."""
    address, tokens = await register_verified(client, runtime)
    fresh = await client.post(
        "/api/v1/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    repeats = [
        await client.post(
            "/api/v1/auth/register",
            json={"email": address.upper(), "password": "Other-Horse-7-Battery"},
        )
        for _ in range(3)
    ]
    for repeat in repeats:
        assert (repeat.status_code, repeat.json()) == (fresh.status_code, fresh.json())
    await drain_tasks(runtime)
    notices = [
        m
        for m in mailbox_messages(runtime.settings.mailbox_dir)
        if m["To"] == address and "tried to sign up" in m["Subject"]
    ]
    assert len(notices) == 1
    still = await client.post(
        "/api/v1/auth/login", json={"email": address, "password": STRONG_PASSWORD}
    )
    assert still.status_code == 200  # the old password still works: nothing was replaced
    assert tokens["user_id"] == still.json()["user_id"]


async def test_bad_registrations(client: httpx.AsyncClient, runtime: Runtime) -> None:

    weak = await client.post(
        "/api/v1/auth/register", json={"email": unique_email(), "password": "password1"}
    )
    assert weak.status_code == 422
    assert weak.json()["type"] == "/problems/weak-password"
    assert weak.headers["content-type"] == "application/problem+json"

    missing = await client.post("/api/v1/auth/register", json={"email": unique_email()})
    assert missing.status_code == 422
    problem = missing.json()
    assert problem["type"] == "/problems/invalid-input"
    assert any(e["loc"] == ["body", "password"] for e in problem["errors"])

    oversized = await client.post(
        "/api/v1/auth/register",
        json={"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "x" * 101},
    )
    assert oversized.status_code == 422
    assert "display_name" in oversized.json()["detail"]

    not_email = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": STRONG_PASSWORD}
    )
    assert not_email.status_code == 422

    extra = await client.post(
        "/api/v1/auth/register",
        json={"email": unique_email(), "password": STRONG_PASSWORD, "role": "admin"},
    )
    assert extra.status_code == 422

    not_json = await client.post(
        "/api/v1/auth/register", content=b"{broken", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422


async def test_wrong_password_and_unknown_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    address, _ = await register_verified(client, runtime)
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": address, "password": "Wrong-Password-1"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": "Wrong-Password-1"}
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["type"] == "/problems/invalid-credentials"
        assert response.json()["detail"] == "email or password is wrong"


async def test_refresh_rotates_and_reuse_revokes_family(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, first = await register_verified(client, runtime)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(second["access_token"]))).is_success

    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    assert reused.json()["type"] == "/problems/refresh-token-reused"

    # The whole family is gone: the newest refresh token and the access tokens too.
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert after.status_code == 401
    assert after.json()["type"] == "/problems/session-revoked"
    me = await client.get("/api/v1/auth/me", headers=bearer(second["access_token"]))
    assert me.status_code == 401

    garbage = await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 40})
    assert garbage.status_code == 401
    assert garbage.json()["type"] == "/problems/invalid-refresh-token"


async def test_logout_ends_the_session(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, tokens = await register_verified(client, runtime)
    headers = bearer(tokens["access_token"])
    out = await client.post(
        "/api/v1/auth/logout", headers=headers, json={"refresh_token": tokens["refresh_token"]}
    )
    assert out.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_profile_read_and_update(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, tokens = await register_verified(client, runtime)
    headers = bearer(tokens["access_token"])
    updated = await client.put(
        "/api/v1/user/profile", headers=headers, json={"display_name": "Grace"}
    )
    assert updated.status_code == 200
    profile = await client.get("/api/v1/user/profile", headers=headers)
    assert profile.json()["display_name"] == "Grace"
    assert profile.json()["wallets"] == []


async def test_bad_tokens(client: httpx.AsyncClient) -> None:
    none = await client.get("/api/v1/auth/me")
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == "Bearer"
    wrong_scheme = await client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"})
    assert wrong_scheme.json()["type"] == "/problems/invalid-authorization"
    forged = await client.get("/api/v1/auth/me", headers=bearer("eyJhbGciOiJIUzI1NiJ9.e30.x"))
    assert forged.status_code == 401
    assert forged.json()["type"] == "/problems/invalid-access-token"


async def test_concurrent_registrations_of_one_email(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    import asyncio

    from sqlalchemy import func, select

    from atelier.identity.models import User

    address = unique_email("race")
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/auth/register", json={"email": address, "password": STRONG_PASSWORD}
            )
            for _ in range(8)
        )
    )
    assert {r.status_code for r in responses} == {202}
    async with runtime.sessions() as session:
        count = await session.scalar(select(func.count()).where(User.email == address))
    assert count == 1
