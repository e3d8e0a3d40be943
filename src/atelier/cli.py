"""The `atelier` command: every module's commands, from `atelier.server.modules`."""

from __future__ import annotations

import typer

from atelier.core.modules import load
from atelier.server.modules import MODULES

app = typer.Typer(
    name="atelier",
    help="Atelier: an open, self-hostable platform for AI-made media.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for module in MODULES:
    for command in module.commands:
        target = load(command.target)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=command.name)
        else:
            app.command(name=command.name)(target)


def main() -> None:
    app()
