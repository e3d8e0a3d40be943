"""Films (Vividverse): screenplays in, reviewed by validators, the chosen one made into a
film on the grid. Landed so far: screenplays (Fountain and laid-out text) and their
submission, with duplicate and near-duplicate flags."""

from atelier.core.modules import Module

MODULE = Module(
    name="films",
    models=("atelier.films.models",),
    routers=("atelier.films.api:router",),
    pages=("atelier.films.pages:router",),
)
