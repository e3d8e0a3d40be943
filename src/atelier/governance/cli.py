"""`atelier proposal create|show|tally` and `atelier vote`, over the HTTP API.

`tally --verify` is the "anyone can recompute it" promise: it downloads every vote,
re-verifies each EIP-712 signature locally and sums the power itself.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from atelier.core.cli import (
    DEFAULT_SERVER,
    KeyOption,
    ServerOption,
    api_call,
    err,
    fail,
    settings_or_exit,
)
from atelier.core.clock import now_utc

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

console = Console()

proposal_app = typer.Typer(
    help="Create proposals, show them and recompute their tallies.", no_args_is_help=True
)

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        raise fail(f"{text!r} is not a duration like 30m, 12h or 3d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _print_result(result: dict[str, Any]) -> None:
    table = Table(title=f"state {result['state']}, outcome {result['outcome'] or '-'}")
    table.add_column("choice")
    table.add_column("power", justify="right")
    table.add_column("voters", justify="right")
    for choice, power in result["tally"].items():
        table.add_row(choice, power, str(result["voters"][choice]))
    console.print(table)
    quorum = result["quorum"]
    cast, needed = quorum["participation"], quorum["required"]
    if Decimal(needed) == 0:
        console.print(f"quorum: none required ({cast} cast)")
    else:
        reached = "reached" if quorum["reached"] else "not reached"
        console.print(f"quorum: {cast} cast of {needed} needed ({reached})")


@proposal_app.command("create")
def create(
    title: Annotated[str, typer.Option(help="The question")],
    ends_in: Annotated[str, typer.Option(help="Window length: 30m, 12h, 3d")] = "3d",
    body: str = "",
    choices: Annotated[str, typer.Option(help="Comma-separated")] = "approve,reject",
    strategy: Annotated[
        str, typer.Option(help="one-wallet-one-vote, erc20, ledger or quadratic")
    ] = "one-wallet-one-vote",
    base: Annotated[str | None, typer.Option(help="quadratic's base: erc20 or ledger")] = None,
    token: Annotated[str | None, typer.Option(help="erc20: token address")] = None,
    quorum: Annotated[str, typer.Option(help="Total power needed")] = "0",
    majority: Annotated[str, typer.Option(help="simple or two-thirds")] = "simple",
    allow_change: Annotated[bool, typer.Option(help="Votes may be changed")] = False,
    server: ServerOption = DEFAULT_SERVER,
    api_key: KeyOption = "",
) -> None:
    """Create a free-standing proposal (a finished job gets one by itself)."""
    if not api_key:
        raise fail("an API key is required: --api-key or ATELIER_API_KEY")
    params = {k: v for k, v in (("base", base), ("token", token)) if v}
    payload = {
        "title": title,
        "body": body,
        "choices": [c.strip() for c in choices.split(",")],
        "strategy": strategy,
        "strategy_params": params,
        "quorum": quorum,
        "majority": majority,
        "allow_vote_change": allow_change,
        "ends_at": (now_utc() + _duration(ends_in)).isoformat(),
    }
    created = api_call(
        "POST",
        f"{server.rstrip('/')}/api/proposals",
        json=payload,
        headers={"Authorization": f"Bearer {api_key}"},
    )
    console.print(f"[bold green]proposal[/] {created['id']} (voting until {created['ends_at']})")


@proposal_app.command("show")
def show(
    proposal_id: Annotated[str, typer.Argument(help="Proposal id or job id")],
    server: ServerOption = DEFAULT_SERVER,
) -> None:
    """A proposal, its rules and its current tally."""
    proposal = api_call("GET", f"{server.rstrip('/')}/api/proposals/{proposal_id}")
    table = Table(show_header=False, title=proposal["title"])
    for name in (
        "id",
        "job_id",
        "strategy",
        "snapshot_block",
        "starts_at",
        "ends_at",
        "majority",
        "allow_vote_change",
        "chain_status",
        "chain_outcome",
    ):
        table.add_row(name, str(proposal[name]))
    console.print(table)
    _print_result(proposal["result"])


def _all_votes(server: str, proposal_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    first: dict[str, Any] | None = None
    votes: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = api_call("GET", f"{server.rstrip('/')}/api/vote/{proposal_id}", params=params)
        first = first or page
        votes.extend(page["votes"])
        cursor = page["next_cursor"]
        if not cursor:
            assert first is not None
            return first, votes


@proposal_app.command("tally")
def tally(
    proposal_id: Annotated[str, typer.Argument(help="Proposal id or job id")],
    verify: Annotated[bool, typer.Option(help="Re-verify every signature and recount")] = False,
    server: ServerOption = DEFAULT_SERVER,
) -> None:
    """The tally; with --verify, recomputed here from the signed votes (exit 1 on mismatch)."""
    from atelier.governance import ballots

    page, votes = _all_votes(server, proposal_id)
    _print_result(page)
    if not verify:
        return
    domain = ballots.Domain(page["domain"]["chainId"], page["domain"]["verifyingContract"])
    key = bytes.fromhex(page["proposal"]["chain_key"][2:])
    counted: dict[str, Decimal] = dict.fromkeys(page["tally"], Decimal(0))
    bad: list[str] = []
    for vote in votes:
        if vote["source"] == "offchain":
            ballot = ballots.Ballot(
                key, vote["voter"], vote["vote"], vote["reason"], vote["timestamp"]
            )
            try:
                valid = ballots.recover(domain, ballot, vote["signature"]) == vote["voter"]
            except ballots.BadSignature:
                valid = False
            if not valid:
                bad.append(vote["voter"])
                continue
        counted[vote["vote"]] += Decimal(vote["power"])
    recount = {choice: str(power) for choice, power in counted.items()}
    same = {c: Decimal(p) for c, p in recount.items()} == {
        c: Decimal(p) for c, p in page["tally"].items()
    }
    console.print(
        f"re-verified {len(votes) - len(bad)} of {len(votes)} signatures; recount {recount}"
    )
    if bad or not same:
        err.print(
            f"[red]mismatch:[/] bad signatures from {bad or 'nobody'}; server says {page['tally']}"
        )
        raise typer.Exit(1)
    console.print("[bold green]the tally checks out[/]")


def vote(
    proposal_id: Annotated[str, typer.Argument(help="Proposal id or job id")],
    choice: Annotated[str, typer.Argument(help="approve, reject, or the proposal's choice")],
    wallet: Annotated[str, typer.Option(help="Your wallet address")],
    reason: str = "",
    directory: Annotated[Path, typer.Option("--dir", help="Wallet directory")] = Path(
        "contributors"
    ),
    passphrase_file: Annotated[Path | None, typer.Option()] = None,
    held: Annotated[
        bool,
        typer.Option(help="A wallet Atelier holds for you: the server signs (needs an API key)"),
    ] = False,
    server: ServerOption = DEFAULT_SERVER,
    api_key: KeyOption = "",
) -> None:
    """Sign a vote with your wallet (EIP-712, made on this machine) and submit it."""
    from atelier.core.errors import InvalidInput
    from atelier.core.secrets import read_secret_file
    from atelier.governance import ballots, service
    from atelier.identity.keystore import KeystoreError, sign_typed_data, unlock_evm_wallet

    base = server.rstrip("/")
    proposal = api_call("GET", f"{base}/api/proposals/{proposal_id}")
    is_job = bool(proposal["job_id"] == proposal_id)
    payload: dict[str, Any] = {
        "job_id" if is_job else "proposal_id": proposal_id,
        "wallet": wallet,
        "vote": choice,
        "reason": reason,
    }
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if held:
        if not api_key:
            raise fail("--held needs an API key: --api-key or ATELIER_API_KEY")
    else:
        try:
            passphrase = (
                read_secret_file(passphrase_file, "passphrase")
                if passphrase_file
                else typer.prompt("Keystore passphrase", hide_input=True)
            )
            secret = unlock_evm_wallet(directory, wallet, passphrase)
        except (KeystoreError, ValueError) as exc:
            raise fail(str(exc)) from None
        offered = api_call(
            "GET",
            f"{base}/api/vote/{proposal_id}/typed-data",
            params={"wallet": wallet, "vote": choice, "reason": reason},
        )
        try:  # from the server only its domain and clock; the ballot is this command's own
            domain = ballots.Domain(
                int(offered["domain"]["chainId"]), str(offered["domain"]["verifyingContract"])
            )
            ballot = ballots.Ballot(
                bytes.fromhex(proposal["chain_key"][2:]),
                service.checksum(wallet),
                choice,
                reason,
                int(offered["message"]["timestamp"]),
            )
        except (KeyError, TypeError, ValueError, InvalidInput) as exc:
            raise fail(f"the server's typed data is not a vote ballot ({exc})") from None
        payload["timestamp"] = ballot.timestamp
        payload["signature"] = sign_typed_data(secret, ballots.typed_data(domain, ballot))
    receipt = api_call("POST", f"{base}/api/vote", json=payload, headers=headers)
    stored = receipt["vote"]
    verb = "voted" if receipt["created"] else "already stored"
    console.print(
        f"[bold green]{verb}[/] {stored['vote']} with power {stored['power']} as {stored['voter']}"
    )
    _print_result(api_call("GET", f"{base}/api/vote/{proposal_id}", params={"limit": 1}))


chain_app = typer.Typer(
    help="Deploy the governance contracts; relay and index votes.", no_args_is_help=True
)


def _rpc_url(rpc_url: str | None, server: str) -> str:
    """The node to talk to: --rpc-url, else ATELIER_CHAIN_RPC_URL, where `embedded` means the
    running server's own chain at /chain/rpc (an in-process chain lives in one process)."""

    url = rpc_url or settings_or_exit().chain_rpc_url
    return f"{server.rstrip('/')}/chain/rpc" if url == "embedded" else url


def _embedded_key(rpc_url: str | None) -> LocalAccount | None:
    """On the server's embedded chain (no --rpc-url, ATELIER_CHAIN_RPC_URL=embedded), the
    platform's own key from this machine's ATELIER_HOME: the node lends no account."""
    from atelier.chain.evm.embedded import NoPlatformKey, platform_key

    settings = settings_or_exit()
    if rpc_url or settings.chain_rpc_url != "embedded":
        return None
    try:
        return platform_key(settings, create=False)
    except NoPlatformKey as exc:
        raise fail(str(exc)) from None


@chain_app.command("deploy")
def chain_deploy(
    rpc_url: Annotated[
        str | None, typer.Option(help="JSON-RPC URL (default: the server's)")
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="File with the deployer's hex private key (default: the node's first unlocked "
            "account, as on dev nodes)"
        ),
    ] = None,
    supply: Annotated[int, typer.Option(help="Whole SOUL minted to the holder")] = 1_000_000,
    holder: Annotated[str | None, typer.Option(help="Who gets the supply (the deployer)")] = None,
    voting_period: Annotated[str, typer.Option(help="createProposal's window")] = "3d",
    quorum: Annotated[int, typer.Option(help="createProposal's quorum, token base units")] = 0,
    server: ServerOption = DEFAULT_SERVER,
) -> None:
    """Deploy SoulvanCoin and SoulvanUpgradeVoting from the committed artifacts."""
    from web3 import HTTPProvider, Web3
    from web3.exceptions import Web3Exception

    from atelier.chain.evm.client import load_relayer_key, sender_for
    from atelier.chain.evm.contracts import deploy

    url = _rpc_url(rpc_url, server)
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))
    key = None if key_file else _embedded_key(rpc_url)
    try:
        if key_file:
            key = load_relayer_key(key_file)
        deployment = deploy(
            w3,
            sender_for(w3, key),
            initial_holder=Web3.to_checksum_address(holder) if holder else None,
            initial_supply=supply * 10**18,
            voting_period_s=int(_duration(voting_period).total_seconds()),
            quorum=quorum,
            key=key,
        )
    except (ValueError, RuntimeError, OSError, Web3Exception) as exc:
        raise fail(f"{url}: {exc}") from None
    console.print(
        f"[bold green]deployed[/] on chain {deployment.chain_id} (block {deployment.deploy_block})"
    )
    console.print(f"ATELIER_CHAIN_RPC_URL={url}")
    console.print(f"ATELIER_CHAIN_TOKEN_ADDRESS={deployment.token}")
    console.print(f"ATELIER_CHAIN_VOTING_ADDRESS={deployment.voting}")


@chain_app.command("index")
def chain_index(
    once: Annotated[bool, typer.Option(help="One round, then exit")] = False,
    server: ServerOption = DEFAULT_SERVER,
) -> None:
    """Relay pending votes and sync VoteCast / UpgradeApplied into the database (what the
    task worker does every 2 s), against ATELIER_CHAIN_RPC_URL and ATELIER_DATABASE_URL."""
    import asyncio

    from atelier.chain.evm.client import open_chain, use_chain
    from atelier.chain.evm.indexer import ChainMoved
    from atelier.core.errors import AppError
    from atelier.core.startup import close_runtime, open_runtime
    from atelier.governance import scheduled

    settings = settings_or_exit()
    key = _embedded_key(None)
    if settings.chain_rpc_url == "embedded":
        info = api_call("GET", f"{server.rstrip('/')}/api/chain")
        settings = settings.model_copy(
            update={
                "chain_rpc_url": info["rpc_url"],
                "chain_token_address": info["token"],
                "chain_voting_address": info["voting"],
            }
        )

    async def run() -> None:
        runtime = await open_runtime(settings)
        try:
            if key is not None:  # the server's embedded chain, driven with the platform's key
                use_chain(runtime, await asyncio.to_thread(open_chain, settings, key))
            while True:
                try:
                    report = await scheduled.chain_tick(runtime)
                except (AppError, ChainMoved) as exc:  # a node down or moving: try again
                    if once:
                        raise fail(str(getattr(exc, "detail", exc))) from None
                    err.print(f"[yellow]warning:[/] {getattr(exc, 'detail', exc)}; retrying")
                    await asyncio.sleep(settings.chain_poll_s)
                    continue
                reorg = f", reorg at {report.reorg_at}" if report.reorg_at is not None else ""
                console.print(
                    f"mirrored {report.mirrored}, relayed {report.relayed}, failed "
                    f"{report.failed}, logs +{report.added} -{report.removed}, applied "
                    f"{report.applied}{reorg}"
                )
                if once:
                    return
                await asyncio.sleep(settings.chain_poll_s)
        finally:
            await close_runtime(runtime)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return
