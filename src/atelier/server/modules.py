"""Every domain of the platform, in one list: what the server mounts, the task worker runs,
Alembic sees and the `atelier` command offers all comes from `MODULES`.

A new domain declares its `MODULE` in its `__init__.py` and is added here, nowhere else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from atelier import (
    admin,
    analytics,
    automation,
    camera,
    chain,
    core,
    economy,
    engine,
    films,
    governance,
    grid,
    identity,
    market,
    moderation,
    music,
    provenance,
    realtime,
    server,
    social,
    studio,
    web,
)
from atelier.core.modules import Module, load

MODULES: tuple[Module, ...] = (
    core.MODULE,
    server.MODULE,
    web.MODULE,  # first among commands: `atelier up` heads the help
    identity.MODULE,
    grid.MODULE,
    provenance.MODULE,
    governance.MODULE,
    chain.MODULE,
    music.MODULE,
    economy.MODULE,
    films.MODULE,
    market.MODULE,
    engine.MODULE,
    camera.MODULE,
    realtime.MODULE,
    social.MODULE,
    automation.MODULE,
    analytics.MODULE,
    moderation.MODULE,
    admin.MODULE,
    studio.MODULE,
)

BY_NAME: dict[str, Module] = {m.name: m for m in MODULES}


def routers_of(names: list[str]) -> list[APIRouter]:
    """The routers of the named modules, in the order given."""
    return [load(target) for name in names for target in BY_NAME[name].routers]


def site_pages() -> list[APIRouter]:
    """Every domain's pages: the site serves them all (the front page's module first)."""
    return [load(target) for module in MODULES for target in module.pages]


def task_blueprints() -> dict[str, Any]:
    """Every module's procrastinate blueprint, by namespace (the task worker runs them all);
    loading the task modules also registers every event subscription and flow."""
    loaded = [(m.name, load(m.tasks)) for m in MODULES if m.tasks is not None]
    return {name: module.blueprint for name, module in loaded if hasattr(module, "blueprint")}


def load_models() -> None:
    """Import every table, so that one metadata describes the whole schema."""
    for module in MODULES:
        for target in module.models:
            load(target)
