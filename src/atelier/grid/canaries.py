"""Canary jobs: ordinary-looking image jobs that the platform can render itself, given to a
worker now and then to check that it really runs what it is sent (AI Horde's idea). The
procedural model is deterministic (same parameters, same pixels), so the platform renders
the same job and compares perceptual hashes (PDQ); a distance within the near-duplicate
threshold passes (it tolerates another numpy's rounding), anything else fails. A new worker
gets its first canaries at once; after each, the next is due after a random number of
accepted jobs (geometric, mean 1 / rate), so a worker cannot tell which job is the check.

A canary names no model, like most jobs (naming one would tell it apart): a worker whose
image jobs run another model (an ONNX or GPU model) answers it with that model, and the
verdict is inconclusive, counted neither way. Such workers are checked once the engine keeps
reference outputs for their models (issue 16); until then the operator sets their escrow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from atelier.generators.base import seed_for
from atelier.generators.image import MODEL, render_frame
from atelier.provenance.fingerprints import NEAR_DUPLICATE_DISTANCE, Pdq, hamming, pdq_of_image

CANARY_MODEL = MODEL
SIZES = ((512, 512), (768, 512), (512, 768), (640, 640), (1024, 576))
_SUBJECTS = (
    "a lighthouse at dusk",
    "a fox in fresh snow",
    "an old tram in the rain",
    "a field of sunflowers",
    "a glass greenhouse at night",
    "a harbour full of sailboats",
    "a desert road under stars",
    "a cat on a windowsill",
    "a mountain lake at dawn",
    "a market street in autumn",
)
_STYLES = (
    "watercolour",
    "oil painting",
    "isometric",
    "film photograph",
    "ink sketch",
    "low-poly",
    "pastel",
    "neon",
)


@dataclass(frozen=True)
class Verdict:
    passed: bool | None  # None: inconclusive (the worker ran another model)
    reason: str


def job_fields(rng: random.Random, max_pixels: int) -> dict[str, Any] | None:
    """The fields of a canary job, as a creator would submit them (a fresh prompt, so a
    worker cannot keep answers), in a size the worker takes; None if it takes none."""
    sizes = [(w, h) for w, h in SIZES if w * h <= max_pixels]
    if not sizes:
        return None
    width, height = rng.choice(sizes)
    prompt = f"{rng.choice(_SUBJECTS)}, {rng.choice(_STYLES)}, {rng.randrange(10**6)}"
    return {"kind": "image", "prompt": prompt, "width": width, "height": height}


def next_due(jobs_done: int, rate: float, rng: random.Random) -> int:
    """When the next canary is due: after a geometric number of further jobs (mean 1/rate)."""
    if rate <= 0:
        return 2**31 - 1
    gap = 1
    while rng.random() >= rate and gap < 10_000:
        gap += 1
    return jobs_done + gap


def reference(params: dict[str, Any]) -> Pdq:
    """The PDQ of the platform's own rendering of a canary job (CPU: ~0.1 s for 1024x576)."""
    image = render_frame(seed_for(params), int(params["width"]), int(params["height"]))
    return pdq_of_image(image)


def judge(expected: Pdq, delivered: Pdq | None, model: str) -> Verdict:
    if model != CANARY_MODEL:
        return Verdict(None, f"the worker ran {model}, which the platform cannot render")
    if delivered is None:
        return Verdict(False, "the canary job's result has no image to compare")
    distance = hamming(expected.hash, delivered.hash)
    if distance > NEAR_DUPLICATE_DISTANCE:
        return Verdict(
            False,
            f"canary output did not match the platform's rendering (PDQ distance {distance} "
            f"of 256, at most {NEAR_DUPLICATE_DISTANCE})",
        )
    return Verdict(True, f"canary matched (PDQ distance {distance})")
