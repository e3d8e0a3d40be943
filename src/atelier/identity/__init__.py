"""Accounts, roles, sign-in (password, SIWE, SIWS), sessions, API keys, wallets, quotas."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="identity",
    models=("atelier.identity.models",),
    routers=(
        "atelier.identity.api:auth_router",
        "atelier.identity.api:user_router",
    ),
    pages=("atelier.identity.pages:router",),
    tasks="atelier.identity.tasks",
    commands=(
        Command("user", "atelier.identity.cli:user_app"),
        Command("wallet", "atelier.identity.cli:wallet_app"),
    ),
)
