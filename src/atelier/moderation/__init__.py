"""Moderation (AiNFT's admin tools, seed 001): content an admin hid with a reason its owner
sees, appeals and their decisions; public listings leave hidden content out."""

from atelier.core.modules import Module

MODULE = Module(
    name="moderation",
    models=("atelier.moderation.models",),
    routers=("atelier.moderation.api:router",),
)
