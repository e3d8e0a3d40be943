"""The semantic tier: the real CLIP pre-processing, batching and pgvector path, on a tiny
ONNX visual encoder this test builds (no CLIP weights exist on PyPI)."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.generators.image import render_frame
from atelier.provenance.embeddings import CLIP_MEAN, ClipVisualEncoder
from tests.conftest import make_settings
from tests.helpers import bearer


def build_tiny_clip(path: Path) -> None:
    """pixel_values [N,3,224,224] -> Conv 32x32/32 -> [N,4,7,7] -> Flatten -> [N,196]."""
    rng = np.random.default_rng(1)
    weight = numpy_helper.from_array(rng.normal(0, 0.05, (4, 3, 32, 32)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["pixel_values", "w"], ["features"], strides=[32, 32]),
         helper.make_node("Flatten", ["features"], ["image_embeds"], axis=1)],
        "tiny_clip",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["n", 196])],
        [weight],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    home = tmp_path_factory.mktemp("home")
    build_tiny_clip(home / "tiny_clip.onnx")
    return make_settings(home, database_url, clip_visual_model=home / "tiny_clip.onnx")


def png(image: Image.Image, fmt: str = "PNG", **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_preprocessing_and_batching(settings: Settings) -> None:
    assert settings.clip_visual_model is not None
    encoder = ClipVisualEncoder(settings.clip_visual_model)
    assert encoder.size == 224
    wide = Image.new("RGB", (640, 320), (0, 0, 0))
    pixels = encoder.preprocess(wide)
    assert pixels.shape == (3, 224, 224)
    assert np.allclose(
        pixels[:, 0, 0], -CLIP_MEAN / np.array([0.26862954, 0.26130258, 0.27577711]), atol=1e-5
    )
    images = [render_frame(i, 256, 256) for i in range(20)]  # more than one batch of 16
    vectors = encoder.embed(images)
    assert vectors.shape == (20, 196)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(
        encoder.embed(images[:3]), vectors[:3], atol=1e-5
    )  # batching changes nothing


async def test_semantic_tier_finds_the_look_alike(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from tests.grid.helpers import account_with_key

    _, validator = await account_with_key(runtime, ["validator"])
    work = render_frame(77, 512, 512)
    indexed = await client.post("/index", headers=bearer(validator),
                                files={"file": ("w.png", png(work))}, data={"label": "the original"})  # fmt: skip
    assert indexed.status_code == 201
    look_alike = png(work.resize((300, 300)), "JPEG", quality=35)
    report = (await client.post("/audit", files={"file": ("a.jpg", look_alike)})).json()
    tiers = {n["tier"] for n in report["neighbours"] if n["label"] == "the original"}
    assert "semantic" in tiers
    assert report["semantic"].startswith("CLIP tiny_clip: nearest cosine similarity")

    embedded = await client.post("/embed", files={"file": ("w.png", png(work))})
    assert embedded.status_code == 200
    assert embedded.json()["model"] == "tiny_clip"
    assert embedded.json()["dimensions"] == 196
    wav = await client.post("/embed", files={"file": ("x.wav", b"RIFF\x00\x00\x00\x00WAVEfmt ")})
    assert wav.status_code == 422
