"""The `atelier` command: mounts each domain's Typer sub-app."""

from __future__ import annotations

import typer

from atelier.economy.cli import ledger_app
from atelier.governance.cli import chain_app, proposal_app, vote
from atelier.grid.cli import job_app, worker, workers
from atelier.identity.cli import user_app, wallet_app
from atelier.provenance.cli import corpus_app, sign, verify
from atelier.web.cli import db_app, serve, tasks, up

app = typer.Typer(
    name="atelier",
    help="Atelier: an open, self-hostable platform for AI-made media.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(up)
app.command()(serve)
app.command()(tasks)
app.command()(worker)
app.command()(workers)
app.command()(verify)
app.command()(sign)
app.command()(vote)
app.add_typer(job_app, name="job")
app.add_typer(corpus_app, name="corpus")
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(wallet_app, name="wallet")
app.add_typer(proposal_app, name="proposal")
app.add_typer(chain_app, name="chain")
app.add_typer(ledger_app, name="ledger")


def main() -> None:
    app()
