"""PSNR, SSIM and FID's Fréchet distance: published values, an independent implementation
(scikit-image) under the same convention, and closed-form cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from atelier.engine import quality

SKIMAGE_CONVENTION = {
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
    "data_range": 255,
}


def noisy_camera() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's camera and the noisy copy of its SSIM tests (seed 5, sigma 20)."""
    np.random.seed(5)
    camera = data.camera()
    noisy = np.clip(camera + 20.0 * np.random.randn(*camera.shape), 0, 255).astype(camera.dtype)
    return camera, noisy


def test_ssim_matches_the_published_ipol_value() -> None:
    """IPOL's `imdiff -m mssim` (Getreuer, 2011) gives 0.357959091663361 for this pair,
    as scikit-image's test suite records; we agree to the 4 decimals it was published to."""
    camera, noisy = noisy_camera()
    assert quality.ssim(quality.luma(camera), quality.luma(noisy)) == pytest.approx(
        0.357959091663361, abs=5e-5
    )


def test_ssim_and_psnr_equal_scikit_image_on_colour_and_grey() -> None:
    rng = np.random.default_rng(3)
    astronaut = data.astronaut()  # colour: compared on BT.601 luma
    blurred = np.asarray(Image.fromarray(astronaut).resize((256, 256)).resize((512, 512)))
    pairs = [
        (astronaut, blurred),
        noisy_camera(),
        (rng.integers(0, 256, (97, 131), dtype=np.uint8), rng.integers(0, 256, (97, 131))),
    ]
    for reference, candidate in pairs:
        ref, cand = quality.luma(reference), quality.luma(candidate)
        assert quality.ssim(ref, cand) == pytest.approx(
            structural_similarity(ref, cand, **SKIMAGE_CONVENTION), abs=1e-9
        )
        assert quality.psnr(ref, cand) == pytest.approx(
            peak_signal_noise_ratio(ref, cand, data_range=255), abs=1e-9
        )


def test_psnr_closed_forms_and_bad_pairs() -> None:
    flat = np.full((32, 32), 100.0)
    assert quality.psnr(flat, flat) == math.inf
    assert quality.ssim(flat, flat) == pytest.approx(1.0)
    # a constant error of 1 level: MSE 1, PSNR = 20 log10(255)
    assert quality.psnr(flat, flat + 1) == pytest.approx(20 * math.log10(255))
    with pytest.raises(quality.MetricError, match="differ in size"):
        quality.psnr(flat, np.zeros((32, 31)))
    with pytest.raises(quality.MetricError, match="at least 11x11"):
        quality.ssim(np.zeros((8, 8)), np.zeros((8, 8)))


def test_luma_of_pil_images_follows_bt601() -> None:
    image = Image.new("RGB", (16, 16), (255, 0, 0))
    assert quality.luma(image)[0, 0] == pytest.approx(0.299 * 255)
    grey = Image.new("L", (16, 16), 77)
    assert quality.luma(grey)[0, 0] == 77.0


def test_frechet_distance_closed_forms() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    sigma = a @ a.T + np.eye(5)
    mu = rng.normal(size=5)
    assert quality.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)
    # same covariance: only the means' squared distance remains
    shift = np.arange(5.0)
    assert quality.frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(
        float(shift @ shift)
    )
    # isotropic: d = ||mu1-mu2||^2 + n (s1 - s2)^2 for covariances s1^2 I and s2^2 I
    n, s1, s2 = 4, 2.0, 0.5
    found = quality.frechet_distance(np.zeros(n), s1**2 * np.eye(n), np.ones(n), s2**2 * np.eye(n))
    assert found == pytest.approx(n + n * (s1 - s2) ** 2)
    # diagonal: sum of (sqrt(a_i) - sqrt(b_i))^2
    d1, d2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = float(np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2))
    assert quality.frechet_distance(
        np.zeros(3), np.diag(d1), np.zeros(3), np.diag(d2)
    ) == pytest.approx(expected)


def _save(model: onnx.ModelProto, path: Path) -> str:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return quality.sha256_of(path)


def tiny_lpips(path: Path) -> str:
    """A tiny 'LPIPS': mean absolute difference of 1x1-convolved features of two images."""
    weight = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32) / 3, "w")
    nodes = [
        helper.make_node("Conv", ["a", "w"], ["fa"]),
        helper.make_node("Conv", ["b", "w"], ["fb"]),
        helper.make_node("Sub", ["fa", "fb"], ["d"]),
        helper.make_node("Abs", ["d"], ["ad"]),
        helper.make_node("ReduceMean", ["ad"], ["distance"], keepdims=0),
    ]
    image = [1, 3, 16, 16]
    graph = helper.make_graph(
        nodes,
        "tiny_lpips",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, image),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, image),
        ],
        [helper.make_tensor_value_info("distance", TensorProto.FLOAT, [])],
        [weight],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def tiny_features(path: Path) -> str:
    """A tiny FID feature extractor: the image's mean per channel (3 features)."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["f"], axes=[2, 3], keepdims=0)],
        "tiny_features",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("f", TensorProto.FLOAT, [1, 3])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_lpips_and_fid_load_pinned_weights_and_refuse_others(tmp_path: Path) -> None:
    lpips_path, fid_path = tmp_path / "lpips.onnx", tmp_path / "fid.onnx"
    lpips = quality.Lpips(quality.PinnedWeights(lpips_path, tiny_lpips(lpips_path)))
    red = Image.new("RGB", (40, 40), (255, 0, 0))
    white = Image.new("RGB", (40, 40), (255, 255, 255))
    assert lpips.distance(red, red) == pytest.approx(0.0)
    assert lpips.distance(red, white) > 0.1
    features = quality.FidFeatures(quality.PinnedWeights(fid_path, tiny_features(fid_path)))
    greys = [Image.new("RGB", (16, 16), (v, v, v)) for v in (10, 60, 120, 200)]
    assert features.fid(greys, greys) == pytest.approx(0.0, abs=1e-6)
    brighter = [Image.new("RGB", (16, 16), (v + 40, v + 40, v + 40)) for v in (10, 60, 120, 200)]
    # the features are the channel means in [-1, 1]: a shift of 40 levels moves each by 40/127.5
    assert features.fid(greys, brighter) == pytest.approx(3 * (40 / 127.5) ** 2, rel=1e-4)
    with pytest.raises(quality.WeightsMismatch, match="not the pinned"):
        quality.Lpips(quality.PinnedWeights(lpips_path, "0" * 64))
