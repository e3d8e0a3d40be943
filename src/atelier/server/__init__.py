"""The composition root: every domain's module, the web app, the processes of `atelier up`."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="server",
    pages=("atelier.server.pages:router",),  # the site's front page
    commands=(
        Command("up", "atelier.server.cli:up"),
        Command("serve", "atelier.server.cli:serve"),
        Command("tasks", "atelier.server.cli:tasks"),
        Command("db", "atelier.server.cli:db_app"),
    ),
)
