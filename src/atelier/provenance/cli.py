"""`atelier verify FILE`: ask the server what it knows about a file."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from atelier.core.cli import DEFAULT_SERVER, KeyOption, ServerOption, api_call, err, fail
from atelier.provenance import wallet_proof

console = Console()


def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    server: ServerOption = DEFAULT_SERVER,
    manifest_file: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            exists=True,
            dir_okay=False,
            help="The sidecar .c2pa manifest (default: FILE's name with .c2pa, if any)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw report")] = False,
) -> None:
    """Report a file's SHA-256 and CID, its C2PA manifest (Valid / Trusted / Invalid with
    c2pa's codes; embedded, or a sidecar), the signer, and whether it is a known Atelier
    artifact. Exits 1 when the manifest or the wallet proof is invalid, with --json too."""
    sidecar = manifest_file or file.with_suffix(".c2pa")
    with contextlib.ExitStack() as stack:
        files = {"file": (file.name, stack.enter_context(file.open("rb")))}
        if sidecar.is_file():
            files["manifest"] = (sidecar.name, stack.enter_context(sidecar.open("rb")))
        report = api_call("POST", f"{server.rstrip('/')}/verify", files=files, timeout=300)
    manifest = report["manifest"]
    wallet = manifest.get("wallet")
    invalid = manifest["state"] == "Invalid" or bool(wallet and not wallet["valid"])
    if as_json:
        console.print_json(json.dumps(report))
        if invalid:
            raise typer.Exit(1)
        return
    table = Table(show_header=False, title=str(file))
    table.add_row("sha256", report["sha256"])
    table.add_row("cid", report["cid"])
    state = manifest["state"] + (" (sidecar)" if manifest.get("sidecar") else "")
    table.add_row("manifest", state + (f": {manifest['note']}" if manifest.get("note") else ""))
    if manifest["failures"]:
        table.add_row("failures", ", ".join(manifest["failures"]))
    table.add_row(
        "signer", f"{manifest['signer']} ({manifest['issuer']})" if manifest["signer"] else "-"
    )
    table.add_row("source", manifest["digital_source_type"] or "-")
    if wallet:
        verdict = "valid" if wallet["valid"] else "INVALID"
        table.add_row("wallet", f"{wallet['recovered'] or wallet['claimed']} ({verdict})")
    known = report["known_artifact"]
    table.add_row("known", f"{known['artifact_id']} ({known['copy']})" if known else "no")
    console.print(table)
    if invalid:
        raise typer.Exit(1)


def sign(
    artifact_id: Annotated[str, typer.Argument(help="The artifact (see the job's result)")],
    address: Annotated[str, typer.Option(help="Your wallet (created with `wallet create`)")],
    directory: Annotated[Path, typer.Option("--dir", help="Wallet directory")] = Path(
        "contributors"
    ),
    server: ServerOption = DEFAULT_SERVER,
    api_key: KeyOption = "",
    passphrase_file: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Sign one of your artifacts with your wallet (EIP-712); the proof goes into its C2PA
    manifest, where `atelier verify` recovers the wallet."""
    from atelier.core.secrets import read_secret_file
    from atelier.identity.keystore import KeystoreError, sign_typed_data, unlock_evm_wallet

    if not api_key:
        raise fail("an API key is required: --api-key or ATELIER_API_KEY")
    try:
        passphrase = (
            read_secret_file(passphrase_file, "passphrase")
            if passphrase_file
            else typer.prompt("Keystore passphrase", hide_input=True)
        )
        secret = unlock_evm_wallet(directory, address, passphrase)
    except (KeystoreError, ValueError) as exc:
        raise fail(str(exc)) from None
    url, headers = f"{server.rstrip('/')}/sign", {"Authorization": f"Bearer {api_key}"}
    asked = api_call("POST", url, headers=headers, json={"artifact_id": artifact_id}, timeout=120)
    typed = asked.get("typed_data")
    if not wallet_proof.is_artifact_proof(typed):
        # The key signs only what this command means to sign: never whatever a server sends
        # (another server, or a compromised one, could ask for a vote or a transfer).
        raise fail("the server asked to sign something that is not an artifact proof; refused")
    signature = sign_typed_data(secret, typed)
    done = api_call(
        "POST",
        url,
        headers=headers,
        timeout=120,
        json={"artifact_id": artifact_id, "signature": signature},
    )
    console.print(f"[bold green]signed[/] {artifact_id} with {done['wallet_proof']['wallet']}")


corpus_app = typer.Typer(
    help="The corpus of known works originality is measured against.", no_args_is_help=True
)


@corpus_app.command("import")
def corpus_import(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    label_prefix: Annotated[str, typer.Option(help="Label = prefix + file name")] = "",
) -> None:
    """Index every PNG, JPEG, EXR, WAV and MP4 under DIRECTORY (operator command, run where
    the database is reachable). Files that are not media are listed and skipped."""
    import asyncio

    from rich.progress import Progress

    from atelier.core.cli import settings_or_exit
    from atelier.core.db import create_engine, resolve_database_url, session_factory
    from atelier.core.errors import AppError
    from atelier.provenance import service

    settings = settings_or_exit()
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    if not files:
        err.print(f"[yellow]no files under {directory}[/]")
        raise typer.Exit(0)

    async def run() -> tuple[int, list[str]]:
        engine = create_engine(resolve_database_url(settings), pool_size=2)
        sessions = session_factory(engine)
        added, skipped = 0, []
        try:
            with Progress(console=console) as bar:
                task = bar.add_task("indexing", total=len(files))
                for path in files:
                    try:
                        async with sessions() as session, session.begin():
                            label = f"{label_prefix}{path.name}"
                            await service.index_file(session, settings, path, label, "import")
                        added += 1
                    except AppError as exc:
                        skipped.append(f"{path}: {exc.detail}")
                    bar.advance(task)
        finally:
            await engine.dispose()
        return added, skipped

    added, skipped = asyncio.run(run())
    for line in skipped:
        err.print(f"[yellow]skipped[/] {line}")
    console.print(f"indexed {added} file(s), skipped {len(skipped)}")
