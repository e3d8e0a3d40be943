"""Donations, the money ledger, monthly distributions by contribution, payouts and
transparency; and governance's token ledger."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="economy",
    models=("atelier.economy.models",),
    routers=(
        "atelier.economy.api:router",
        "atelier.economy.api:transparency_router",
        "atelier.economy.api:earnings_router",
        "atelier.economy.api:donate_router",
    ),
    pages=("atelier.economy.pages:router",),
    tasks="atelier.economy.tasks",
    commands=(
        Command("ledger", "atelier.economy.cli:ledger_app"),
        Command("economy", "atelier.economy.cli:economy_app"),
    ),
)
