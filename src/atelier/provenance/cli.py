"""`atelier verify FILE`: ask the server what it knows about a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)


def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    server: Annotated[str, typer.Option(envvar="ATELIER_SERVER")] = "http://localhost:8080",
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw report")] = False,
) -> None:
    """Report a file's SHA-256 and CID, its C2PA manifest (Valid / Trusted / Invalid with
    c2pa's codes), the signer, and whether it is a known Atelier artifact."""
    try:
        with file.open("rb") as handle:
            response = httpx.post(f"{server.rstrip('/')}/verify",
                                  files={"file": (file.name, handle)}, timeout=300)  # fmt: skip
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/] cannot reach the server: {exc}")
        raise typer.Exit(2) from None
    report = response.json()
    if response.is_error:
        err.print(f"[red]error:[/] {report.get('detail', report)}")
        raise typer.Exit(2)
    if as_json:
        console.print_json(json.dumps(report))
        return
    manifest = report["manifest"]
    table = Table(show_header=False, title=str(file))
    table.add_row("sha256", report["sha256"])
    table.add_row("cid", report["cid"])
    table.add_row("manifest", manifest["state"])
    if manifest["failures"]:
        table.add_row("failures", ", ".join(manifest["failures"]))
    table.add_row(
        "signer", f"{manifest['signer']} ({manifest['issuer']})" if manifest["signer"] else "-"
    )
    table.add_row("source", manifest["digital_source_type"] or "-")
    known = report["known_artifact"]
    table.add_row("known", f"{known['artifact_id']} ({known['copy']})" if known else "no")
    console.print(table)
    if manifest["state"] == "Invalid":
        raise typer.Exit(1)
