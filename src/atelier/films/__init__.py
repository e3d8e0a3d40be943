"""Films (Vividverse): screenplays in, reviewed by validators, the chosen one made into a
film on the grid: screenplays (Fountain, PDF, laid-out text) with duplicate and
near-duplicate flags, validations and rounds, and films planned, costed, made by the grid's
workers and joined by stream copy."""

from atelier.core.modules import Module

MODULE = Module(
    name="films",
    models=("atelier.films.models",),
    routers=("atelier.films.api:router",),
    pages=("atelier.films.pages:router",),
    tasks="atelier.films.tasks",
)
