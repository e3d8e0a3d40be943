"""What a domain plugs into the platform, declared once in the domain's `__init__.py`.

A domain names its parts by import path (`"atelier.grid.api:jobs_router"`) so that a process
loads only what it uses: the CLI starts without importing routers, a task worker without the
web app. The composition root (`atelier.server.modules`) lists every domain's `MODULE`; the
routers mounted, the task blueprints a worker runs, the tables Alembic sees and the commands
of `atelier` all come from that one list.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    """A command of the `atelier` CLI: a Typer app (a group, `atelier job …`) or a function
    (`atelier verify`), mounted under `name`."""

    name: str
    target: str


@dataclass(frozen=True)
class Module:
    name: str
    models: tuple[str, ...] = ()  # modules whose tables belong to the domain
    routers: tuple[str, ...] = ()  # "module:attribute" of each APIRouter
    # the domain's web pages (routers too), all served by the site (`atelier serve grid`)
    pages: tuple[str, ...] = ()
    # The module of the domain's background work: importing it registers its event
    # subscriptions and flows; its `blueprint`, if it has one, holds its procrastinate tasks.
    tasks: str | None = None
    commands: tuple[Command, ...] = ()
    # ASGI apps mounted whole under a path ("/socket.io=module:attribute"), for protocols
    # that are not FastAPI routes
    mounts: tuple[str, ...] = ()


def load(target: str) -> Any:
    """The object `target` names: "package.module:attribute", or a module by its name."""
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module
