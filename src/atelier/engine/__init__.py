"""The engine (Soulvan's NVIDIA AI engine, seed 000): a registry of model versions per
capability with champion/challenger aliases, benchmarks on the grid scored by PSNR/SSIM
(LPIPS/FID with operator weights), the seed's update decisions, sequential A/B tests on live
jobs, rollback within 7 days; and the generation routes on port 5400."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="engine",
    models=("atelier.engine.models",),
    routers=("atelier.engine.api:router",),
    pages=("atelier.engine.pages:router",),
    tasks="atelier.engine.tasks",
    commands=(Command("models", "atelier.engine.cli:app"),),
)
