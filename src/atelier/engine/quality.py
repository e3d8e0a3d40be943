"""Image quality metrics the benchmarks score candidates with, under one pinned convention.

PSNR and SSIM compare a candidate's output with a reference output of the same size:

- **Channel**: colour images are compared on luma, Y = 0.299 R + 0.587 G + 0.114 B (ITU-R
  BT.601, as float64, not rounded); grey images as they are.
- **Data range**: L = 255 (8-bit images; other depths are scaled to 0-255 first).
- **SSIM** (Wang, Bovik, Sheikh, Simoncelli 2004): an 11-tap gaussian window, sigma 1.5
  (truncated at 3.5 sigma), K1 = 0.01, K2 = 0.03, population (not sample) covariances, the
  mean over the positions where the whole window fits (a 5-pixel border is left out). This is
  scikit-image's `structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)` on the same luma, and IPOL's `imdiff -m mssim`.
- **PSNR**: 10 log10(L^2 / MSE) on the same luma; identical images are +inf dB.

LPIPS and FID need learned networks whose weights are not shipped: an operator supplies them
as ONNX files pinned by sha256 (`ATELIER_ENGINE_LPIPS_MODEL` / `ATELIER_ENGINE_FID_MODEL`).
The LPIPS file maps two images to a distance; the FID file maps images to feature vectors, and
the Fréchet distance between the two sets' gaussians is computed here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Array = NDArray[np.float64]

DATA_RANGE = 255.0
SIGMA = 1.5
TRUNCATE = 3.5
K1, K2 = 0.01, 0.03
LUMA = np.array([0.299, 0.587, 0.114])


class MetricError(ValueError):
    """The images cannot be compared (different sizes, too small, unreadable)."""


def _window() -> Array:
    radius = int(TRUNCATE * SIGMA + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights: Array = np.exp(-0.5 * (x / SIGMA) ** 2)
    return weights / float(weights.sum())


WINDOW = _window()


def luma(image: Image.Image | NDArray[np.generic]) -> Array:
    """The plane metrics are computed on: luma for colour, the values for grey, on 0-255."""
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I", "F"):
            array = np.asarray(image, dtype=np.float64)
            peak = 65535.0 if image.mode != "F" else max(1.0, float(array.max()))
            return array * (DATA_RANGE / peak)
        image = image.convert("L" if image.mode in ("L", "LA", "1", "P") else "RGB")
        array = np.asarray(image, dtype=np.float64)
    else:
        array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3:
        if array.shape[2] < 3:
            return np.ascontiguousarray(array[:, :, 0])
        return np.asarray(array[:, :, :3] @ LUMA, dtype=np.float64)
    if array.ndim != 2:
        raise MetricError(f"an image has 2 or 3 dimensions, not {array.ndim}")
    return array


def _pair(reference: Array, candidate: Array) -> None:
    if reference.shape != candidate.shape:
        raise MetricError(
            f"the images differ in size: {reference.shape[1]}x{reference.shape[0]} and "
            f"{candidate.shape[1]}x{candidate.shape[0]}"
        )


def psnr(reference: Array, candidate: Array) -> float:
    _pair(reference, candidate)
    diff = (reference - candidate).ravel()
    mse = float(diff @ diff) / diff.size  # one pass, no squared copy
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


STRIPE_ROWS = 16  # rows of SSIM's map computed at once: a stripe's planes stay in cache


def _valid_filter(planes: Array) -> Array:
    """Each plane convolved with the gaussian window, separably, only where the window fits
    (the border SSIM leaves out is never computed, so no padding convention enters). The
    window is symmetric, so taps k and 10-k are added before they are weighted."""
    taps = len(WINDOW)
    centre = taps // 2
    height, width = planes.shape[1] - taps + 1, planes.shape[2] - taps + 1
    rows = WINDOW[centre] * planes[:, centre : centre + height, :]
    scratch = np.empty_like(rows)
    for k in range(centre):
        far = taps - 1 - k
        np.add(planes[:, k : k + height, :], planes[:, far : far + height, :], out=scratch)
        scratch *= WINDOW[k]
        rows += scratch
    out: Array = WINDOW[centre] * rows[:, :, centre : centre + width]
    scratch = np.empty_like(out)
    for k in range(centre):
        far = taps - 1 - k
        np.add(rows[:, :, k : k + width], rows[:, :, far : far + width], out=scratch)
        scratch *= WINDOW[k]
        out += scratch
    return out


def _ssim_sum(x: Array, y: Array) -> float:
    """The sum of SSIM's map over the rows of `x` and `y` where the window fits."""
    mu_x, mu_y, xx, yy, xy = _valid_filter(np.stack([x, y, x * x, y * y, x * y]))
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    mu_xy = mu_x * mu_y
    mu_xx = mu_x * mu_x
    mu_yy = mu_y * mu_y
    numerator = (2 * mu_xy + c1) * (2 * (xy - mu_xy) + c2)
    denominator = (mu_xx + mu_yy + c1) * ((xx - mu_xx) + (yy - mu_yy) + c2)
    return float(np.sum(numerator / denominator))


def ssim(reference: Array, candidate: Array) -> float:
    """Mean SSIM, computed a stripe of rows at a time (each stripe reads the window's 10
    extra rows), which keeps the working set in cache: the same sum, several times faster."""
    _pair(reference, candidate)
    taps = len(WINDOW)
    if min(reference.shape) < taps:
        raise MetricError(f"SSIM needs images of at least {taps}x{taps} pixels")
    height = reference.shape[0] - taps + 1
    width = reference.shape[1] - taps + 1
    total: float = 0.0
    for start in range(0, height, STRIPE_ROWS):
        stop = min(height, start + STRIPE_ROWS) + taps - 1
        total += _ssim_sum(reference[start:stop], candidate[start:stop])
    return total / float(height * width)


def frechet_distance(mu1: Array, sigma1: Array, mu2: Array, sigma2: Array) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), for symmetric positive semi-definite
    covariances: Tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of
    S1^(1/2) S2 S1^(1/2), which is symmetric, so `eigh` is exact where `sqrtm` is not."""
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_root = float(np.sum(np.sqrt(np.clip(inner, 0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def gaussian_of(features: Array) -> tuple[Array, Array]:
    if features.ndim != 2 or features.shape[0] < 2:
        raise MetricError("FID needs at least two feature vectors per set")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class WeightsMismatch(ValueError):
    """A weights file is not the one its sha256 pins."""


@dataclass(frozen=True)
class PinnedWeights:
    path: Path
    sha256: str

    def verified(self) -> Path:
        if not self.path.is_file():
            raise WeightsMismatch(f"{self.path} does not exist")
        found = sha256_of(self.path)
        if found != self.sha256.lower():
            raise WeightsMismatch(
                f"{self.path.name} has sha256 {found}, not the pinned {self.sha256.lower()}"
            )
        return self.path


def _network_input(image: Image.Image, side: int) -> NDArray[np.float32]:
    """An image as a network sees it: RGB, `side` x `side`, NCHW, scaled to [-1, 1]."""
    rgb = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    array = np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None])


class _OnnxNetwork:
    def __init__(self, weights: PinnedWeights) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(
            str(weights.verified()), providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        shape = self.session.get_inputs()[0].shape
        self.side = shape[-1] if isinstance(shape[-1], int) else 64


class Lpips(_OnnxNetwork):
    """LPIPS from an ONNX file with two image inputs (NCHW, [-1, 1]) and a distance output."""

    def __init__(self, weights: PinnedWeights) -> None:
        super().__init__(weights)
        if len(self.inputs) != 2:
            raise MetricError("an LPIPS model takes two images (reference, candidate)")

    def distance(self, reference: Image.Image, candidate: Image.Image) -> float:
        feeds = {
            self.inputs[0]: _network_input(reference, self.side),
            self.inputs[1]: _network_input(candidate, self.side),
        }
        return float(np.asarray(self.session.run(None, feeds)[0]).reshape(-1)[0])


class FidFeatures(_OnnxNetwork):
    """FID's feature extractor (an Inception pool layer, or any network) from an ONNX file:
    one image input (NCHW, [-1, 1]) and a feature-vector output."""

    def features(self, images: list[Image.Image]) -> Array:
        rows = [
            np.asarray(
                self.session.run(None, {self.inputs[0]: _network_input(image, self.side)})[0],
                dtype=np.float64,
            ).reshape(-1)
            for image in images
        ]
        return np.stack(rows)

    def fid(self, references: list[Image.Image], candidates: list[Image.Image]) -> float:
        mu1, sigma1 = gaussian_of(self.features(references))
        mu2, sigma2 = gaussian_of(self.features(candidates))
        return frechet_distance(mu1, sigma1, mu2, sigma2)
