"""The platform's infrastructure: settings, database, outbox events, flows, HTTP, tasks."""

from atelier.core.modules import Module

MODULE = Module(
    name="core",
    models=(
        "atelier.core.events",
        "atelier.core.flows",
        "atelier.core.idempotency",
        "atelier.core.ratelimit",
    ),
    tasks="atelier.core.tasks",
)
