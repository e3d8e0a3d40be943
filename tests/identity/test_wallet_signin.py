"""Sign-In With Ethereum (EIP-4361) and Sign-In With Solana, including every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from eth_account import Account
from solders.keypair import Keypair

from tests.helpers import bearer, eth_sign, siwe_message, siws_message, sol_sign


async def _nonce(client: httpx.AsyncClient, chain: str = "siwe") -> str:
    response = await client.get(f"/api/v1/auth/{chain}/nonce")
    assert response.status_code == 200
    body = response.json()
    assert body["domain"] == "localhost:8080"
    return str(body["nonce"])


async def test_siwe_creates_account_then_signs_in_again(client: httpx.AsyncClient) -> None:
    account = Account.create()
    message = siwe_message(account.address, await _nonce(client))
    first = await client.post(
        "/api/v1/auth/siwe", json={"message": message, "signature": eth_sign(account, message)}
    )
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True
    me = await client.get("/api/v1/auth/me", headers=bearer(first.json()["access_token"]))
    assert me.json()["email"] is None
    assert [(w["chain"], w["address"]) for w in me.json()["wallets"]] == [("evm", account.address)]

    message = siwe_message(account.address, await _nonce(client))
    second = await client.post(
        "/api/v1/auth/siwe", json={"message": message, "signature": eth_sign(account, message)}
    )
    assert second.status_code == 200
    assert second.json()["created"] is False
    assert second.json()["user_id"] == first.json()["user_id"]


async def test_siwe_replay_is_refused(client: httpx.AsyncClient) -> None:
    account = Account.create()
    message = siwe_message(account.address, await _nonce(client))
    payload = {"message": message, "signature": eth_sign(account, message)}
    assert (await client.post("/api/v1/auth/siwe", json=payload)).status_code == 200
    replay = await client.post("/api/v1/auth/siwe", json=payload)
    assert replay.status_code == 401
    assert replay.json()["type"] == "/problems/invalid-nonce"


@pytest.mark.parametrize(
    ("overrides", "slug"),
    [
        (
            {
                "expires_in": timedelta(seconds=-1),
                "issued_at": datetime.now(UTC) - timedelta(minutes=1),
            },
            "sign-in-expired",
        ),
        ({"domain": "evil.example"}, "sign-in-domain-mismatch"),
        ({"uri": "https://evil.example/login"}, "sign-in-domain-mismatch"),
        ({"chain_id": 56}, "sign-in-wrong-chain"),
        ({"issued_at": datetime.now(UTC) + timedelta(hours=1)}, "sign-in-not-yet-valid"),
    ],
)
async def test_siwe_refusals(client: httpx.AsyncClient, overrides: dict, slug: str) -> None:
    account = Account.create()
    message = siwe_message(account.address, await _nonce(client), **overrides)
    response = await client.post(
        "/api/v1/auth/siwe", json={"message": message, "signature": eth_sign(account, message)}
    )
    assert response.status_code == 401, response.text
    assert response.json()["type"] == f"/problems/{slug}"


async def test_siwe_signed_by_another_key(client: httpx.AsyncClient) -> None:
    victim, attacker = Account.create(), Account.create()
    message = siwe_message(victim.address, await _nonce(client))
    response = await client.post(
        "/api/v1/auth/siwe", json={"message": message, "signature": eth_sign(attacker, message)}
    )
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/invalid-signature"
    garbage = await client.post(
        "/api/v1/auth/siwe", json={"message": message, "signature": "0x1234"}
    )
    assert garbage.status_code == 401


async def test_siwe_unknown_nonce_and_malformed_message(client: httpx.AsyncClient) -> None:
    account = Account.create()
    message = siwe_message(account.address, "deadbeefdeadbeef")
    unknown = await client.post(
        "/api/v1/auth/siwe", json={"message": message, "signature": eth_sign(account, message)}
    )
    assert unknown.status_code == 401
    assert unknown.json()["type"] == "/problems/invalid-nonce"

    malformed = await client.post(
        "/api/v1/auth/siwe", json={"message": "hello there", "signature": "0x00"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["type"] == "/problems/malformed-sign-in-message"

    missing = await client.post("/api/v1/auth/siwe", json={"message": message})
    assert missing.status_code == 422


async def test_siws_sign_in_and_refusals(client: httpx.AsyncClient) -> None:
    keypair = Keypair()
    address = str(keypair.pubkey())
    message = siws_message(address, await _nonce(client, "siws"))
    ok = await client.post(
        "/api/v1/auth/siws", json={"message": message, "signature": sol_sign(keypair, message)}
    )
    assert ok.status_code == 200, ok.text
    me = await client.get("/api/v1/auth/me", headers=bearer(ok.json()["access_token"]))
    assert me.json()["wallets"][0]["address"] == address

    # the same signature as hex is accepted too
    message = siws_message(address, await _nonce(client, "siws"))
    raw = bytes(keypair.sign_message(message.encode())).hex()
    as_hex = await client.post("/api/v1/auth/siws", json={"message": message, "signature": raw})
    assert as_hex.json()["user_id"] == ok.json()["user_id"]

    other = Keypair()
    message = siws_message(address, await _nonce(client, "siws"))
    forged = await client.post(
        "/api/v1/auth/siws", json={"message": message, "signature": sol_sign(other, message)}
    )
    assert forged.status_code == 401
    assert forged.json()["type"] == "/problems/invalid-signature"

    message = siws_message(address, await _nonce(client, "siws"), domain="evil.example")
    wrong_domain = await client.post(
        "/api/v1/auth/siws", json={"message": message, "signature": sol_sign(keypair, message)}
    )
    assert wrong_domain.json()["type"] == "/problems/sign-in-domain-mismatch"

    message = siws_message(address, await _nonce(client, "siws"), chain_id="bogusnet")
    wrong_chain = await client.post(
        "/api/v1/auth/siws", json={"message": message, "signature": sol_sign(keypair, message)}
    )
    assert wrong_chain.json()["type"] == "/problems/sign-in-wrong-chain"

    message = siws_message(address, await _nonce(client, "siws"), expires_in=timedelta(seconds=-5))
    expired = await client.post(
        "/api/v1/auth/siws", json={"message": message, "signature": sol_sign(keypair, message)}
    )
    assert expired.json()["type"] == "/problems/sign-in-expired"

    evm_shaped = siwe_message(Account.create().address, await _nonce(client))
    mixed = await client.post(
        "/api/v1/auth/siws",
        json={"message": evm_shaped, "signature": sol_sign(keypair, evm_shaped)},
    )
    assert mixed.status_code == 422


def test_siwe_is_judged_at_the_time_it_is_given() -> None:
    """siwe's own verify read the wall clock, whatever `now` the caller passed: a message
    valid at `now` was refused (and one expired at `now` could pass the second check)."""
    from atelier.identity import signin

    account = Account.create()
    issued = datetime(2020, 1, 1, tzinfo=UTC)
    message = siwe_message(
        account.address, "a1b2c3d4e5f6a7b8", issued_at=issued, expires_in=timedelta(days=1)
    )
    signature = eth_sign(account, message)
    kwargs = {
        "domain": "localhost:8080",
        "origin": "http://localhost:8080",
        "allowed_chain_ids": ["1"],
    }
    parsed = signin.verify("evm", message, signature, now=issued + timedelta(hours=1), **kwargs)
    assert parsed.address == account.address
    with pytest.raises(signin.SignInError) as late:
        signin.verify("evm", message, signature, now=issued + timedelta(days=2), **kwargs)
    assert late.value.slug == "sign-in-expired"
