"""Truck style → genre mapping, the track library, personalization on approved upgrades."""

from atelier.core.modules import Module

MODULE = Module(
    name="music",
    models=("atelier.music.models",),
    routers=("atelier.music.api:router",),
    pages=("atelier.music.pages:router",),
    tasks="atelier.music.tasks",
)
