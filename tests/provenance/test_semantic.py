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
        [
            helper.make_node("Conv", ["pixel_values", "w"], ["features"], strides=[32, 32]),
            helper.make_node("Flatten", ["features"], ["image_embeds"], axis=1),
        ],
        "tiny_clip",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["n", 196])],
        [weight],
    )
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
    indexed = await client.post(
        "/index",
        headers=bearer(validator),
        files={"file": ("w.png", png(work))},
        data={"label": "the original"},
    )
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


def build_tiny_text_model(directory: Path) -> tuple[Path, Path]:
    """A merges file for "hello" and a text tower: ids [N,77] -> Cast -> MatMul -> [N,16]."""
    merges = directory / "merges.txt"
    merges.write_text("#version: 0.2\nh e\nl l\nhe ll\nhell o</w>\n")
    rng = np.random.default_rng(2)
    weight = numpy_helper.from_array(rng.normal(0, 1, (77, 16)).astype(np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["ids_f", "w"], ["text_embeds"]),
        ],
        "tiny_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", 77])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["n", 16])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = directory / "tiny_text.onnx"
    onnx.save(model, str(path))
    return path, merges


def test_clip_tokenizer_and_text_encoder(tmp_path: Path) -> None:
    from atelier.provenance.clip_tokenizer import ClipTokenizer
    from atelier.provenance.embeddings import ClipTextEncoder

    model, merges = build_tiny_text_model(tmp_path)
    tokenizer = ClipTokenizer(merges)
    start, end, hello = (
        tokenizer.encoder["<|startoftext|>"],
        tokenizer.encoder["<|endoftext|>"],
        tokenizer.encoder["hello</w>"],
    )
    ids = tokenizer(["Hello", "HELLO &amp; hi!"])
    assert ids.shape == (2, 77)
    assert ids[0, :4].tolist() == [start, hello, end, 0]
    assert ids[1, 1] == hello  # lower-cased, HTML-unescaped, BPE-merged
    assert ids[1, 2] == tokenizer.encoder["&</w>"]
    long = tokenizer(["hello " * 200])[0]
    assert long[-1] == end  # cut to the context, still closed
    encoder = ClipTextEncoder(model, merges)
    vectors = encoder.embed(["hello", "hello hello", "hello"])
    assert vectors.shape == (3, 16)
    assert np.allclose(vectors[0], vectors[2])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


async def test_embed_text(client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path) -> None:
    response = await client.post("/embed", data={"text": "hello"})
    assert response.status_code == 503  # this module configures the visual tower only
    assert response.json()["type"] == "/problems/clip-not-configured"
    neither = await client.post("/embed", data={})
    assert neither.status_code == 422
    model, merges = build_tiny_text_model(tmp_path)
    settings = runtime.settings
    settings.clip_text_model, settings.clip_merges = model, merges  # an operator configures it
    try:
        embedded = await client.post("/embed", data={"text": "hello"})
    finally:
        settings.clip_text_model, settings.clip_merges = None, None
    assert embedded.status_code == 200, embedded.text
    assert embedded.json()["model"] == "tiny_text"
    assert embedded.json()["dimensions"] == 16


async def test_images_clip_cannot_read_and_models_that_are_missing(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    from tests.provenance.test_originality import _bomb_png

    bomb = _bomb_png()  # claims 30,000 x 30,000 pixels: Pillow refuses to decode it
    audited = await client.post("/audit", files={"file": ("bomb.png", bomb)})
    assert audited.status_code == 422  # beyond the pixel limit: no tier decodes it
    embedded = await client.post("/embed", files={"file": ("bomb.png", bomb)})
    assert embedded.status_code == 422
    assert embedded.json()["type"] == "/problems/undecodable"

    settings = runtime.settings
    configured = settings.clip_visual_model
    settings.clip_visual_model = tmp_path / "moved-away.onnx"  # an operator's mistake
    settings.clip_text_model, settings.clip_merges = tmp_path / "a.onnx", tmp_path / "m.txt"
    try:
        image = png(render_frame(5, 64, 64))
        missing = await client.post("/embed", files={"file": ("x.png", image)})
        text = await client.post("/embed", data={"text": "hello"})
        audited = await client.post("/audit", files={"file": ("x.png", image)})
    finally:
        settings.clip_visual_model = configured
        settings.clip_text_model, settings.clip_merges = None, None
    for refused in (missing, text):
        assert refused.status_code == 503, refused.text
        assert refused.json()["type"] == "/problems/clip-not-configured"
        assert "does not exist" in refused.json()["detail"]
    assert audited.status_code == 200  # originality without the semantic tier
