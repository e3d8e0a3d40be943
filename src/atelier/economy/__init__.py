"""Donations, the internal ledger, distributions and transparency (the ledger lands first)."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="economy",
    models=("atelier.economy.models",),
    routers=("atelier.economy.api:router",),
    commands=(
        Command("ledger", "atelier.economy.cli:ledger_app"),
        Command("economy", "atelier.economy.cli:economy_app"),
    ),
)
