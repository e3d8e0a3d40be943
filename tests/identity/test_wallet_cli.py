"""`atelier wallet create|list|link`: encrypted keystores that other tools can open, and
linking a wallet to an account against a real `atelier serve` process."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import eth_keyfile
import httpx
import pytest
from eth_account import Account
from solders.keypair import Keypair
from typer.testing import CliRunner

from atelier.cli import app
from atelier.core.runtime import Runtime
from tests.helpers import STRONG_PASSWORD, bearer, register_verified
from tests.servers import running_server

runner = CliRunner()
PASSPHRASE = "truck-stop-42!"


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "pass.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def _create(out: Path, chain: str, style: str, passphrase_file: Path) -> dict:
    result = runner.invoke(
        app,
        [
            "wallet",
            "create",
            "--chain",
            chain,
            "--style",
            style,
            "--passphrase-file",
            str(passphrase_file),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    profiles = [p for p in out.glob("*.json") if not p.name.endswith(".keystore.json")]
    assert len(profiles) == 1
    return json.loads(profiles[0].read_text())


def test_evm_wallet_opens_with_eth_account(tmp_path: Path, passphrase_file: Path) -> None:
    profile = _create(tmp_path, "evm", "graffiti", passphrase_file)
    assert profile["chain"] == "evm"
    assert profile["style"] == "graffiti"
    assert profile["music_genre"] == "hip-hop"
    assert profile["keystore"] == f"{profile['address']}.keystore.json"  # beside it, relative
    keystore_path = tmp_path / profile["keystore"]
    assert stat.S_IMODE(keystore_path.stat().st_mode) == 0o600
    keystore = json.loads(keystore_path.read_text())
    assert keystore["version"] == 3
    assert keystore["crypto"]["kdf"] == "scrypt"
    # An independent tool recovers the key, and nothing on disk holds it in the clear.
    key = Account.decrypt(keystore, PASSPHRASE)
    assert Account.from_key(key).address == profile["address"]
    for path in tmp_path.iterdir():
        assert bytes(key).hex() not in path.read_text()


def test_solana_wallet_roundtrip(tmp_path: Path, passphrase_file: Path) -> None:
    profile = _create(tmp_path, "solana", "mythic", passphrase_file)
    keystore = json.loads((tmp_path / profile["keystore"]).read_text())
    assert keystore["chain"] == "solana"
    assert keystore["address"] == profile["address"]
    seed = eth_keyfile.decode_keyfile_json(keystore, PASSPHRASE.encode())
    assert str(Keypair.from_seed(bytes(seed)).pubkey()) == profile["address"]

    listed = runner.invoke(app, ["wallet", "list", "--dir", str(tmp_path)])
    assert profile["address"][:20] in listed.output


def test_interactive_picker(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["wallet", "create", "--out", str(tmp_path)],
        input=f"evm\nplaid\n1\n{PASSPHRASE}\n{PASSPHRASE}\n",
        env={"ATELIER_FORCE_INTERACTIVE": "1"},
    )
    assert result.exit_code == 0, result.output
    for style, genre in [
        ("chrome", "synthwave"),
        ("graffiti", "hip-hop"),
        ("cyberpunk", "darksynth"),
    ]:
        assert style in result.output
        assert genre in result.output
    assert "not a style" in result.output
    assert "style: chrome" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chain", "bitcoin", "--style", "chrome"], "unknown chain 'bitcoin'"),
        (["--chain", "evm", "--style", "plaid"], "unknown style 'plaid'"),
        (["--style", "chrome"], "--chain is required"),
    ],
)
def test_create_refuses_bad_choices(
    tmp_path: Path, passphrase_file: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(
        app,
        [
            "wallet",
            "create",
            *args,
            "--passphrase-file",
            str(passphrase_file),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.glob("*.keystore.json")) == []


def test_short_passphrase_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("abc")
    args = ["wallet", "create", "--chain", "evm", "--style", "matte"]
    result = runner.invoke(app, [*args, "--passphrase-file", str(short), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "at least 8" in result.output


@pytest.fixture(scope="module")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("srv"), database_url, ["grid"]) as url:
        yield url


async def test_link_wallet_via_cli(
    client: httpx.AsyncClient,
    runtime: Runtime,
    live_server: str,
    tmp_path: Path,
    passphrase_file: Path,
) -> None:
    email, tokens = await register_verified(client, runtime)
    api_key = (
        await client.post("/api/v1/user/api-keys", headers=bearer(tokens["access_token"]))
    ).json()["key"]
    password_file = tmp_path / "password"
    password_file.write_text(STRONG_PASSWORD)
    for chain in ("evm", "solana"):
        out = tmp_path / chain
        profile = _create(out, chain, "chrome", passphrase_file)
        with_key = runner.invoke(
            app,
            [
                "wallet",
                "link",
                "--address",
                profile["address"],
                "--dir",
                str(out),
                "--server",
                live_server,
            ],
            env={"ATELIER_API_KEY": api_key},
        )
        assert with_key.exit_code == 2 and "sign in" in with_key.output  # a key cannot
        base = [
            "wallet",
            "link",
            "--address",
            profile["address"],
            "--dir",
            str(out),
            "--server",
            live_server,
            "--email",
            email,
            "--password-file",
            str(password_file),
        ]

        wrong = tmp_path / "wrong"
        wrong.write_text("not-the-passphrase")
        refused = runner.invoke(app, [*base, "--passphrase-file", str(wrong)])
        assert refused.exit_code == 2
        assert "wrong passphrase" in refused.output

        linked = runner.invoke(app, [*base, "--passphrase-file", str(passphrase_file)])
        assert linked.exit_code == 0, linked.output
        assert profile["address"] in linked.output

    me = await client.get("/api/v1/auth/me", headers=bearer(api_key))
    assert sorted(w["chain"] for w in me.json()["wallets"]) == ["evm", "solana"]


async def test_link_refusals(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, alice = await register_verified(client, runtime)
    _, bob = await register_verified(client, runtime)
    account = Account.create()

    async def challenge(tokens: dict) -> str:
        response = await client.post(
            "/api/v1/user/wallets/challenge",
            headers=bearer(tokens["access_token"]),
            json={"chain": "evm", "address": account.address},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["message"])

    from tests.helpers import eth_sign

    message = await challenge(alice)
    wrong_signer = Account.create()
    bad = await client.post(
        "/api/v1/user/wallets",
        headers=bearer(alice["access_token"]),
        json={"chain": "evm", "message": message, "signature": eth_sign(wrong_signer, message)},
    )
    assert bad.status_code == 401
    assert bad.json()["type"] == "/problems/invalid-signature"

    # Bob cannot use Alice's challenge even with a good signature.
    message = await challenge(alice)
    stolen = await client.post(
        "/api/v1/user/wallets",
        headers=bearer(bob["access_token"]),
        json={"chain": "evm", "message": message, "signature": eth_sign(account, message)},
    )
    assert stolen.status_code == 401
    assert stolen.json()["type"] == "/problems/invalid-nonce"

    message = await challenge(alice)
    ok = await client.post(
        "/api/v1/user/wallets",
        headers=bearer(alice["access_token"]),
        json={"chain": "evm", "message": message, "signature": eth_sign(account, message)},
    )
    assert ok.status_code == 201
    assert ok.json()["custodial"] is False  # a wallet the user brings: no key with us

    message = await challenge(bob)
    elsewhere = await client.post(
        "/api/v1/user/wallets",
        headers=bearer(bob["access_token"]),
        json={"chain": "evm", "message": message, "signature": eth_sign(account, message)},
    )
    assert elsewhere.status_code == 409
    assert elsewhere.json()["type"] == "/problems/wallet-linked-elsewhere"

    bad_address = await client.post(
        "/api/v1/user/wallets/challenge",
        headers=bearer(alice["access_token"]),
        json={"chain": "evm", "address": "0x" + "zz" * 20},
    )
    assert bad_address.status_code == 422

    wallet_id = ok.json()["id"]
    removed = await client.delete(
        f"/api/v1/user/wallets/{wallet_id}", headers=bearer(alice["access_token"])
    )
    assert removed.status_code == 204


async def test_cannot_unlink_the_only_sign_in_method(client: httpx.AsyncClient) -> None:
    from tests.helpers import siwe_message

    account = Account.create()
    nonce = (await client.get("/api/v1/auth/siwe/nonce")).json()["nonce"]
    message = siwe_message(account.address, nonce)
    from tests.helpers import eth_sign

    tokens = (
        await client.post(
            "/api/v1/auth/siwe", json={"message": message, "signature": eth_sign(account, message)}
        )
    ).json()
    me = (await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))).json()
    refused = await client.delete(
        f"/api/v1/user/wallets/{me['wallets'][0]['id']}", headers=bearer(tokens["access_token"])
    )
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/last-sign-in-method"
    assert os.environ.get("ATELIER_FORCE_INTERACTIVE") is None
