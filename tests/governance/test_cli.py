"""`atelier proposal|vote|chain` against a real `atelier serve governance` process, whose
embedded chain the CLI reaches through /chain/rpc."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner
from typing_extensions import override

from atelier.cli import app
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.governance import ballots
from atelier.governance.models import Vote
from tests.conftest import make_settings
from tests.governance.helpers import external_node
from tests.grid.helpers import account_with_key
from tests.helpers import STRONG_PASSWORD, cli_wallet, register_verified
from tests.servers import JsonHandler, atelier_env, running_server, stand_in

runner = CliRunner()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    """The test process's own runtime does not relay: the server's process owns the chain
    (its embedded one), and `atelier chain index` relays to it."""
    return make_settings(tmp_path_factory.mktemp("home"), database_url, chain_relay=False)


@pytest.fixture(scope="module")
def server_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("srv")


@pytest.fixture(scope="module")
def live_server(database_url: str, server_home: Path) -> Iterator[str]:
    with running_server(server_home, database_url, ["governance"]) as url:
        yield url


def _ok(args: list[str], **env: str) -> str:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_proposal_vote_tally_and_chain_commands(
    client: httpx.AsyncClient,
    runtime: Runtime,
    live_server: str,
    server_home: Path,
    database_url: str,
    tmp_path: Path,
) -> None:
    _, api_key = await account_with_key(runtime, ["creator", "validator"])  # mirrored on chain
    out = _ok(
        [
            "proposal",
            "create",
            "--title",
            "Chrome or matte?",
            "--ends-in",
            "1h",
            "--server",
            live_server,
        ],
        ATELIER_API_KEY=api_key,
    )
    proposal_id = out.split()[1]

    wallet, passphrase = cli_wallet(tmp_path / "w")
    email, _ = await register_verified(client, runtime)  # a verified person's wallet: relayed
    password = tmp_path / "password"
    password.write_text(STRONG_PASSWORD)
    _ok(
        [
            "wallet",
            "link",
            "--address",
            wallet,
            "--dir",
            str(tmp_path / "w"),
            "--server",
            live_server,
            "--email",
            email,
            "--password-file",
            str(password),
            "--passphrase-file",
            str(passphrase),
        ]
    )
    voted = _ok(
        [
            "vote",
            proposal_id,
            "approve",
            "--wallet",
            wallet,
            "--reason",
            "shiny",
            "--dir",
            str(tmp_path / "w"),
            "--passphrase-file",
            str(passphrase),
            "--server",
            live_server,
        ]
    )
    assert "voted approve with power 1" in voted
    shown = _ok(["proposal", "show", proposal_id, "--server", live_server])
    assert "Chrome or matte?" in shown
    assert "quorum: none required (1 cast)" in shown  # it read "quorum 1 / 0 (reached)"
    assert "the tally checks out" in _ok(
        ["proposal", "tally", proposal_id, "--verify", "--server", live_server]
    )

    async def set_choice(choice: str) -> None:  # what someone with the database could do
        async with runtime.sessions() as session, session.begin():
            await session.execute(update(Vote).where(Vote.voter == wallet).values(choice=choice))

    await set_choice("reject")
    tampered = runner.invoke(
        app, ["proposal", "tally", proposal_id, "--verify", "--server", live_server]
    )
    assert tampered.exit_code == 1, tampered.output
    assert "mismatch" in tampered.output and wallet in tampered.output
    await set_choice("approve")

    wrong = runner.invoke(
        app,
        [
            "vote",
            proposal_id,
            "maybe",
            "--wallet",
            wallet,
            "--dir",
            str(tmp_path / "w"),
            "--passphrase-file",
            str(passphrase),
            "--server",
            live_server,
        ],
    )
    assert wrong.exit_code == 2 and "not a choice" in wrong.output

    # operator commands on the server's machine (its ATELIER_HOME: the platform's chain key)
    deployed = _ok(
        ["chain", "deploy", "--server", live_server, "--supply", "10"],
        ATELIER_HOME=str(server_home),
    )
    assert "ATELIER_CHAIN_VOTING_ADDRESS=0x" in deployed
    elsewhere = runner.invoke(
        app,
        ["chain", "deploy", "--server", live_server],
        env={"ATELIER_HOME": str(tmp_path / "other"), "COLUMNS": "300"},
    )
    assert elsewhere.exit_code == 2 and "chain-platform.key does not exist" in elsewhere.output
    indexed = subprocess.run(  # its own event loop: a real process, as an operator runs it
        [sys.executable, "-m", "atelier", "chain", "index", "--once", "--server", live_server],
        env=atelier_env(server_home, database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert indexed.returncode == 0, indexed.stderr
    assert "relayed 1" in indexed.stdout
    votes = httpx.get(f"{live_server}/api/vote/{proposal_id}").json()
    assert [v["relay_status"] for v in votes["votes"]] == ["confirmed"]


def test_chain_deploy_on_a_node_without_accounts_asks_for_a_key() -> None:
    with external_node() as url:
        refused = runner.invoke(app, ["chain", "deploy", "--rpc-url", url])
    assert refused.exit_code == 2
    assert "no unlocked account" in refused.output


def test_chain_index_once_on_a_node_in_error_says_so(database_url: str, tmp_path: Path) -> None:
    with external_node(broken=True) as url:
        failed = runner.invoke(
            app,
            ["chain", "index", "--once"],
            env=atelier_env(
                tmp_path,
                database_url,
                ATELIER_CHAIN_RPC_URL=url,
                ATELIER_CHAIN_TOKEN_ADDRESS="0x" + "11" * 20,
                ATELIER_CHAIN_VOTING_ADDRESS="0x" + "22" * 20,
            ),
        )
    assert failed.exit_code == 2, failed.output
    assert "missing trie node" in failed.output


class _Steering(JsonHandler):
    """A server that offers to sign a *reject* on another proposal, and keeps what it gets."""

    key = "0x" + "aa" * 16 + "00" * 16
    posted: dict[str, Any] = {}

    @override
    def do_GET(self) -> None:
        if "/typed-data" in self.path:
            other = ballots.Ballot(bytes(32), "0x" + "44" * 20, "reject", "", 1_700_000_000)
            self.answer(ballots.typed_data(ballots.Domain(1, "0x" + "22" * 20), other))
        elif self.path.startswith("/api/proposals/"):
            self.answer({"job_id": None, "chain_key": self.key})
        else:
            self.answer(
                {
                    "tally": {},
                    "voters": {},
                    "state": "active",
                    "outcome": None,
                    "quorum": {"required": "0", "participation": "0", "reached": False},
                }
            )

    @override
    def do_POST(self) -> None:
        type(self).posted = self.body()  # type: ignore[assignment]
        self.answer({"vote": {"vote": "approve", "power": "1", "voter": "x"}, "created": True})


def test_vote_signs_its_own_ballot_not_what_the_server_offers(tmp_path: Path) -> None:
    wallet, passphrase = cli_wallet(tmp_path / "w")
    with stand_in(_Steering) as url:
        _ok(
            [
                "vote",
                "p1",
                "approve",
                "--wallet",
                wallet,
                "--dir",
                str(tmp_path / "w"),
                "--passphrase-file",
                str(passphrase),
                "--server",
                url,
            ]
        )
    posted = _Steering.posted
    mine = ballots.Ballot(
        bytes.fromhex(_Steering.key[2:]), wallet, "approve", "", posted["timestamp"]
    )
    domain = ballots.Domain(1, "0x" + "22" * 20)  # the server may name the chain and contract
    assert ballots.recover(domain, mine, posted["signature"]) == wallet
    assert posted["vote"] == "approve"
