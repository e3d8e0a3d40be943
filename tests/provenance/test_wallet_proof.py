"""The creator's wallet signs an artifact (EIP-712) and verification recovers it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from typer.testing import CliRunner
from typing_extensions import override

from atelier.cli import app
from atelier.core.runtime import Runtime
from atelier.governance import ballots
from atelier.provenance import service, signing, wallet_proof
from tests.grid.helpers import account_with_key, asgi_client, session_for, worker_loop
from tests.helpers import (
    STRONG_PASSWORD,
    bearer,
    cli_wallet,
    drain_tasks,
    eth_sign,
    register_verified,
)
from tests.servers import JsonHandler, atelier_env, running_server, stand_in


async def link(client: httpx.AsyncClient, runtime: Runtime, key: str, account: object) -> None:
    """Link `account` to the owner of `key`, in a signed-in session of theirs."""
    me = (await client.get("/api/v1/auth/me", headers=bearer(key))).json()
    key = await session_for(runtime, uuid.UUID(me["id"]))
    address = account.address  # type: ignore[attr-defined]
    challenge = (
        await client.post(
            "/api/v1/user/wallets/challenge",
            headers=bearer(key),
            json={"chain": "evm", "address": address},
        )
    ).json()["message"]
    linked = await client.post(
        "/api/v1/user/wallets",
        headers=bearer(key),
        json={"chain": "evm", "message": challenge, "signature": eth_sign(account, challenge)},
    )
    assert linked.status_code == 201


async def signed_job(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, key: str, wallet: str
) -> tuple[str, str]:
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, key)
    job = await grid.generate({"kind": "image", "prompt": "lighthouse", "wallet": wallet})
    async with worker_loop(client, volunteer, f"wp-{job.id.hex[:6]}", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), 60)
    await drain_tasks(runtime)
    status = await grid.status(job.id)
    await grid.close()
    assert status.result is not None
    assert status.result["provenance"]["wallet_proof"] == {
        "state": "awaiting signature",
        "wallet": wallet,
    }
    return str(status.result["artifact_id"]), str(job.id)


async def test_wallet_proof_end_to_end(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, key = await account_with_key(runtime)
    wallet = Account.create()
    await link(client, runtime, key, wallet)
    artifact_id, job_id = await signed_job(client, runtime, tmp_path, key, wallet.address)

    asked = await client.post("/sign", headers=bearer(key), json={"artifact_id": artifact_id})
    assert asked.status_code == 200, asked.text
    typed = asked.json()["typed_data"]
    assert typed["primaryType"] == "Artifact"
    # signed outside Atelier, as MetaMask's eth_signTypedData_v4 would
    signature = (
        "0x"
        + bytes(
            Account.sign_message(encode_typed_data(full_message=typed), wallet.key).signature
        ).hex()
    )

    intruder = Account.create()
    wrong = (
        "0x"
        + bytes(
            Account.sign_message(encode_typed_data(full_message=typed), intruder.key).signature
        ).hex()
    )
    refused = await client.post(
        "/sign", headers=bearer(key), json={"artifact_id": artifact_id, "signature": wrong}
    )
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/wrong-wallet"
    garbage = await client.post(
        "/sign", headers=bearer(key), json={"artifact_id": artifact_id, "signature": "0x12"}
    )
    assert garbage.status_code == 422
    _, stranger = await account_with_key(runtime)
    other = await client.post("/sign", headers=bearer(stranger), json={"artifact_id": artifact_id})
    assert other.status_code == 404

    done = await client.post(
        "/sign", headers=bearer(key), json={"artifact_id": artifact_id, "signature": signature}
    )
    assert done.status_code == 200, done.text
    assert done.json()["wallet_proof"] == {"state": "signed", "wallet": wallet.address}

    download = await client.get(f"/api/v1/generate/{job_id}/result", headers=bearer(key))
    verified = await client.post("/verify", files={"file": ("x.png", download.content)})
    report = verified.json()
    assert report["manifest"]["state"] == "Trusted"
    assert report["manifest"]["wallet"]["recovered"] == wallet.address
    assert report["manifest"]["wallet"]["valid"] is True
    assert report["known_artifact"]["copy"] == "signed"


def test_forged_wallet_proof_is_reported_invalid(tmp_path: Path, runtime: Runtime) -> None:
    from PIL import Image

    victim, forger = Account.create(), Account.create()
    typed = wallet_proof.typed_data(1, "ab" * 32, "bafy", None, "m")
    forged_sig = (
        "0x"
        + bytes(
            Account.sign_message(encode_typed_data(full_message=typed), forger.key).signature
        ).hex()
    )
    source = tmp_path / "in.png"
    Image.new("RGB", (64, 64), "green").save(source)
    signed = tmp_path / "out.png"
    identity = service.signing_identity(runtime.settings)
    proof = {"wallet": victim.address, "signature": forged_sig, "typed_data": typed}
    signing.sign(identity, source, "image/png", signed, signing.manifest_for("x", "m", {}, proof))
    report = signing.read(signed, "image/png", identity.root_pem)
    assert report.state == "Trusted"  # the platform's signature is fine…
    checked = wallet_proof.check(report.wallet_proof)
    assert checked is not None
    assert checked["valid"] is False  # …but the wallet claim is not
    assert checked["recovered"] == forger.address
    assert (
        wallet_proof.check({"wallet": victim.address, "signature": "0x00", "typed_data": {}})[
            "valid"
        ]
        is False
    )  # type: ignore[index]


@pytest.fixture(scope="module")
def live(database_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_server(settings.home, database_url, ["grid", "provenance"]) as url:
        yield url


async def test_sign_cli_with_a_local_keystore(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, live: str
) -> None:
    runner = CliRunner()
    passphrase = tmp_path / "pass"
    passphrase.write_text("a long passphrase\n")
    created = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "wallet",
            "create",
            "--chain",
            "evm",
            "--style",
            "chrome",
            "--passphrase-file",
            str(passphrase),
            "--out",
            str(tmp_path / "w"),
        ],
    )
    assert created.exit_code == 0, created.output
    profile = json.loads(
        next(
            p for p in (tmp_path / "w").glob("*.json") if not p.name.endswith(".keystore.json")
        ).read_text()
    )
    email, tokens = await register_verified(client, runtime)
    key = (
        await client.post("/api/v1/user/api-keys", headers=bearer(tokens["access_token"]))
    ).json()["key"]
    password = tmp_path / "password"
    password.write_text(STRONG_PASSWORD)
    env = atelier_env(tmp_path, ATELIER_API_KEY=key, COLUMNS="200")
    linked = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "wallet",
            "link",
            "--address",
            profile["address"],
            "--dir",
            str(tmp_path / "w"),
            "--server",
            live,
            "--passphrase-file",
            str(passphrase),
            "--email",
            email,
            "--password-file",
            str(password),
        ],
        env=env,
    )
    assert linked.exit_code == 0, linked.output
    artifact_id, job_id = await signed_job(client, runtime, tmp_path, key, profile["address"])
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "sign",
            artifact_id,
            "--address",
            profile["address"],
            "--dir",
            str(tmp_path / "w"),
            "--server",
            live,
            "--passphrase-file",
            str(passphrase),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert profile["address"] in result.output
    download = await client.get(f"/api/v1/generate/{job_id}/result", headers=bearer(key))
    (tmp_path / "signed.png").write_bytes(download.content)
    verified = await asyncio.to_thread(
        runner.invoke, app, ["verify", str(tmp_path / "signed.png"), "--server", live], env=env
    )
    assert verified.exit_code == 0, verified.output
    assert f"{profile['address']} (valid)" in verified.output


async def test_platform_held_wallet_signs_for_its_creator(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from atelier.identity.models import Wallet

    user_id, key = await account_with_key(runtime)
    created = await client.post(
        "/api/v1/user/wallets/custodial",
        headers=bearer(await session_for(runtime, user_id)),
        json={"label": "mine"},
    )
    assert created.status_code == 201, created.text
    wallet = created.json()
    assert wallet["custodial"] is True
    me = (await client.get("/api/v1/auth/me", headers=bearer(key))).json()
    assert me["wallets"][0]["custodial"] is True

    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, key)
    job = await grid.generate({"kind": "image", "prompt": "held", "wallet": wallet["address"]})
    async with worker_loop(client, volunteer, "custody", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), 60)
    await drain_tasks(runtime)
    status = await grid.status(job.id)
    assert status.result is not None
    assert status.result["provenance"]["wallet_proof"] == {
        "state": "signed",
        "wallet": wallet["address"],
    }
    signed = await client.get(f"/api/v1/generate/{job.id}/result", headers=bearer(key))
    report = (await client.post("/verify", files={"file": ("x.png", signed.content)})).json()
    assert report["manifest"]["wallet"] == {
        **report["manifest"]["wallet"],
        "recovered": wallet["address"],
        "valid": True,
    }
    await grid.close()

    async with runtime.sessions() as session:
        row = await session.scalar(select(Wallet).where(Wallet.address == wallet["address"]))
    assert row is not None
    assert row.sealed_key is not None
    # the sealed key is not the key: it decrypts only with the server's wallet key
    from atelier.identity import custody

    secret = custody.unseal(runtime.settings, row.address, row.sealed_key)
    assert Account.from_key(secret).address == wallet["address"]
    assert secret not in row.sealed_key
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):  # bound to its own address
        custody.unseal(runtime.settings, Account.create().address, row.sealed_key)


def test_sign_cli_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    no_key = runner.invoke(app, ["sign", "x", "--address", "0xabc"], env=atelier_env(tmp_path))
    assert no_key.exit_code == 2
    assert "API key is required" in no_key.output
    address, passphrase = cli_wallet(tmp_path / "w", "solana", "matte")
    env = atelier_env(tmp_path, ATELIER_API_KEY="atl_live_" + "0" * 48)
    solana = runner.invoke(
        app,
        [
            "sign",
            "x",
            "--address",
            address,
            "--dir",
            str(tmp_path / "w"),
            "--passphrase-file",
            str(passphrase),
        ],
        env=env,
    )
    assert solana.exit_code == 2
    assert "use an EVM wallet" in solana.output
    missing = runner.invoke(
        app,
        [
            "wallet",
            "link",
            "--address",
            address,
            "--dir",
            str(tmp_path / "w"),
            "--passphrase-file",
            str(tmp_path / "nope"),
            "--email",
            "a@example.org",
        ],
        env=env,
    )
    assert missing.exit_code == 2
    assert "cannot read passphrase file" in missing.output


def test_only_artifact_proofs_count_as_artifact_proofs() -> None:
    proof = wallet_proof.typed_data(1, "ab" * 32, "bafy", "pdq", "model")
    assert wallet_proof.is_artifact_proof(proof)
    vote = ballots.typed_data(
        ballots.Domain(1, "0x" + "11" * 20),
        ballots.Ballot(bytes(32), Account.create().address, "approve", "", 1),
    )
    assert not wallet_proof.is_artifact_proof(vote)
    assert not wallet_proof.is_artifact_proof({**proof, "primaryType": "Mail"})
    contract = {**proof["domain"], "verifyingContract": "0x" + "22" * 20}
    assert not wallet_proof.is_artifact_proof({**proof, "domain": contract})
    assert not wallet_proof.is_artifact_proof(None)


class _HostileSigner(JsonHandler):
    """A server that answers `POST /sign` with a vote to sign instead of an artifact proof."""

    posts = 0

    @override
    def do_POST(self) -> None:
        type(self).posts += 1
        self.body()
        self.answer(
            {
                "typed_data": ballots.typed_data(
                    ballots.Domain(1, "0x" + "11" * 20),
                    ballots.Ballot(bytes(32), "0x" + "33" * 20, "approve", "", 1),
                )
            }
        )


def test_sign_cli_signs_nothing_but_an_artifact_proof(tmp_path: Path) -> None:
    runner = CliRunner()
    address, passphrase = cli_wallet(tmp_path / "w", "evm", "matte")
    env = atelier_env(tmp_path, ATELIER_API_KEY="atl_live_" + "0" * 48)
    with stand_in(_HostileSigner) as url:
        refused = runner.invoke(
            app,
            [
                "sign",
                "x",
                "--address",
                address,
                "--dir",
                str(tmp_path / "w"),
                "--passphrase-file",
                str(passphrase),
                "--server",
                url,
            ],
            env=env,
        )
    assert refused.exit_code == 2
    assert "not an artifact proof; refused" in refused.output
    assert _HostileSigner.posts == 1  # no signature was sent back
