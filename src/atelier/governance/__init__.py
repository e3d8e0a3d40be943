"""Proposals, signed votes, voting-power strategies, tallies and relaying on chain."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="governance",
    models=("atelier.governance.models",),
    routers=("atelier.governance.api:router",),
    pages=("atelier.governance.pages:router",),
    tasks="atelier.governance.tasks",
    commands=(
        Command("vote", "atelier.governance.cli:vote"),
        Command("proposal", "atelier.governance.cli:proposal_app"),
        Command("chain", "atelier.governance.cli:chain_app"),
    ),
)
