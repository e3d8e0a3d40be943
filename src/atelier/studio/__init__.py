"""The AI studio (AiNFT's AI/Agents service, seed 001): a prompt library (versions,
variables, tags), ready-made templates, and agents that generate on the grid, rank by
originality and quality, keep the best as a collection draft and cast about it, run as
persisted flows with their cost shown before they start."""

from atelier.core.modules import Module

MODULE = Module(
    name="studio",
    models=("atelier.studio.models",),
    routers=("atelier.studio.api:router",),
    pages=("atelier.studio.pages:router",),
    tasks="atelier.studio.tasks",
)
