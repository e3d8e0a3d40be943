"""Analytics (AiNFT's analytics events, seed 001): product facts (sign-ups, jobs by kind,
votes, sales, film views) under a pseudonym, daily rollups, an admin page with charts and
the same counters on /metrics."""

from atelier.core.modules import Module

MODULE = Module(
    name="analytics",
    models=("atelier.analytics.models",),
    pages=("atelier.analytics.pages:router",),
    tasks="atelier.analytics.tasks",
)
