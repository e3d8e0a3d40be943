"""Generation requests, workers, leases, dispatch and result checks (the volunteer grid)."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="grid",
    models=("atelier.grid.models",),
    routers=(
        "atelier.grid.api:generate_router",
        "atelier.grid.api:jobs_router",
        "atelier.grid.api:workers_router",
    ),
    pages=("atelier.grid.pages:router",),
    tasks="atelier.grid.tasks",
    commands=(
        Command("worker", "atelier.grid.cli:worker"),
        Command("workers", "atelier.grid.cli:workers"),
        Command("job", "atelier.grid.cli:job_app"),
    ),
)
