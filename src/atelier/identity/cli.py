"""`atelier user …` (operator commands on the database) and `atelier wallet …` (local keys)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from atelier.core.cli import DEFAULT_SERVER, ServerOption, fail, unreachable, with_session
from atelier.core.config import ROLES
from atelier.core.secrets import read_secret_file
from atelier.identity import repository as repo
from atelier.identity.keystore import (
    CHAINS,
    KeystoreError,
    create_wallet,
    decrypt_secret,
    keystore_chain,
    load_keystore,
    load_profile,
    sign_text,
)
from atelier.identity.service import accounts
from atelier.identity.styles import TRUCK_STYLES

console = Console()
err = Console(stderr=True)
user_app = typer.Typer(
    help="Manage accounts (operator commands, run on the server).", no_args_is_help=True
)
wallet_app = typer.Typer(
    help="Create and link wallets (keys stay encrypted on this machine).", no_args_is_help=True
)

T = TypeVar("T")


@user_app.command("promote")
def promote(email: str, role: Annotated[str, typer.Argument(help=", ".join(ROLES))]) -> None:
    """Grant ROLE to the account with EMAIL."""
    user = with_session(lambda s: accounts.set_role(s, email, role, grant=True))
    console.print(f"{email}: roles {', '.join(user.roles)}")


@user_app.command("demote")
def demote(email: str, role: Annotated[str, typer.Argument(help=", ".join(ROLES))]) -> None:
    """Take ROLE away from the account with EMAIL."""
    user = with_session(lambda s: accounts.set_role(s, email, role, grant=False))
    console.print(f"{email}: roles {', '.join(user.roles) or '(none)'}")


@user_app.command("list")
def list_users(limit: int = 50) -> None:
    """The newest accounts."""

    table = Table("id", "email", "roles", "verified", "created")
    for user in with_session(lambda s: repo.newest_users(s, limit)):
        table.add_row(
            str(user.id),
            user.email or "(wallet)",
            ",".join(user.roles),
            "yes" if user.email_verified_at else "no",
            user.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


def _read_secret_file(path: Path, what: str) -> str:
    try:
        return read_secret_file(path, what)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _pick_style() -> str:
    table = Table("#", "style", "music", "sounds like", title="Pick your truck style")
    names = list(TRUCK_STYLES)
    for i, name in enumerate(names, 1):
        style = TRUCK_STYLES[name]
        table.add_row(str(i), name, style.genre, style.hint)
    console.print(table)
    while True:
        answer = str(typer.prompt("Style (number or name)")).strip().lower()
        if answer.isdigit() and 1 <= int(answer) <= len(names):
            return names[int(answer) - 1]
        if answer in TRUCK_STYLES:
            return answer
        err.print(f"[yellow]{answer!r} is not a style; choose 1-{len(names)} or a name[/]")


@wallet_app.command("create")
def wallet_create(
    chain: Annotated[str | None, typer.Option(help="evm or solana")] = None,
    style: Annotated[str | None, typer.Option(help=", ".join(TRUCK_STYLES))] = None,
    passphrase_file: Annotated[
        Path | None, typer.Option(help="Read the keystore passphrase from this file")
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for the profile and keystore")] = Path(
        "contributors"
    ),
) -> None:
    """Create a wallet: an encrypted keystore plus a public profile, DIR/{address}.json.

    With no flags on a terminal it asks for chain, style and passphrase; scripts pass
    --chain, --style and --passphrase-file.
    """
    interactive = sys.stdin.isatty() or os.environ.get("ATELIER_FORCE_INTERACTIVE") == "1"
    if chain is None:
        if not interactive:
            raise fail(f"--chain is required ({' or '.join(CHAINS)})")
        chain = typer.prompt("Chain (evm or solana)", default="evm").strip().lower()
    if chain not in CHAINS:
        raise fail(f"unknown chain {chain!r}; choose one of: {', '.join(CHAINS)}")
    if style is None:
        if not interactive:
            raise fail(f"--style is required (one of: {', '.join(TRUCK_STYLES)})")
        style = _pick_style()
    if style not in TRUCK_STYLES:
        raise fail(f"unknown style {style!r}; choose one of: {', '.join(TRUCK_STYLES)}")
    if passphrase_file is not None:
        passphrase = _read_secret_file(passphrase_file, "passphrase")
    elif interactive:
        passphrase = typer.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=True)
    else:
        raise fail("--passphrase-file is required when not on a terminal")
    try:
        created = create_wallet(chain, style, passphrase, out)
    except KeystoreError as exc:
        raise fail(str(exc)) from None
    genre = TRUCK_STYLES[style].genre
    console.print(f"[bold green]Created {chain} wallet[/] {created.address}")
    console.print(f"  style: {style} (music: {genre})")
    console.print(f"  profile:  {created.profile_path}")
    console.print(f"  keystore: {created.keystore_path} (encrypted; keep the passphrase safe)")


@wallet_app.command("list")
def wallet_list(
    directory: Annotated[Path, typer.Option("--dir", help="Wallet directory")] = Path(
        "contributors"
    ),
) -> None:
    """Wallets created on this machine."""
    import json

    table = Table("address", "chain", "style", "created")
    for path in sorted(directory.glob("*.json")):
        if path.name.endswith(".keystore.json"):
            continue
        profile = json.loads(path.read_text())
        table.add_row(
            profile["address"],
            profile["chain"],
            profile.get("style", ""),
            profile.get("created_at", ""),
        )
    console.print(table)


def _sign_in(client: httpx.Client, email: str, password_file: Path | None) -> str:
    """An access token for a session of the command's own (wallets are managed in a signed-in
    session, never with an API key)."""
    password = (
        _read_secret_file(password_file, "password")
        if password_file
        else typer.prompt("Password", hide_input=True)
    )
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return str(_json_or_fail(response)["access_token"])


def _json_or_fail(response: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise fail(f"server answered {response.status_code} with no JSON") from None
    if response.is_error:
        raise fail(f"{body.get('detail', body)} ({response.status_code} {body.get('type', '')})")
    return body


@wallet_app.command("link")
def wallet_link(
    address: Annotated[str, typer.Option(help="Address of a wallet created with `wallet create`")],
    directory: Annotated[Path, typer.Option("--dir", help="Wallet directory")] = Path(
        "contributors"
    ),
    server: ServerOption = DEFAULT_SERVER,
    email: Annotated[str | None, typer.Option(help="Your account's email (you sign in)")] = None,
    password_file: Annotated[Path | None, typer.Option()] = None,
    passphrase_file: Annotated[Path | None, typer.Option()] = None,
    label: Annotated[str | None, typer.Option(help="A name for the wallet")] = None,
) -> None:
    """Link a local wallet to your account by signing the server's challenge with it
    (the seed's `soulvan link-wallet --address`). You sign in for it: wallets are managed in a
    signed-in session, never with an API key."""
    if not email:
        raise fail("linking a wallet needs you to sign in: pass --email (and --password-file)")
    try:
        profile = load_profile(directory, address)
        keystore = load_keystore(profile, directory)
        chain = keystore_chain(keystore)
    except KeystoreError as exc:
        raise fail(str(exc)) from None
    passphrase = (
        _read_secret_file(passphrase_file, "passphrase")
        if passphrase_file
        else typer.prompt("Keystore passphrase", hide_input=True)
    )
    try:
        secret = decrypt_secret(keystore, passphrase)
    except KeystoreError as exc:
        raise fail(str(exc)) from None
    try:
        with httpx.Client(base_url=server, timeout=30) as client:
            headers = {"Authorization": f"Bearer {_sign_in(client, email, password_file)}"}
            challenge = _json_or_fail(
                client.post(
                    "/api/v1/user/wallets/challenge",
                    headers=headers,
                    json={"chain": chain, "address": profile["address"]},
                )
            )
            signature = sign_text(chain, secret, challenge["message"])
            linked = _json_or_fail(
                client.post(
                    "/api/v1/user/wallets",
                    headers=headers,
                    json={
                        "chain": chain,
                        "message": challenge["message"],
                        "signature": signature,
                        "label": label or profile.get("style"),
                    },
                )
            )
            client.post("/api/v1/auth/logout", headers=headers)  # this command's session ends
    except httpx.HTTPError as exc:
        raise fail(unreachable(server, exc)) from None
    console.print(f"[bold green]Linked[/] {linked['chain']} wallet {linked['address']}")
