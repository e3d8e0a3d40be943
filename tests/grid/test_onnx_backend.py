"""The ONNX image backend's real loading and inference path, on a tiny model built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from atelier.generators.onnx_image import OnnxImageBackend, hashed_text_embedding
from atelier.generators.registry import available_backends, pick


def build_tiny_model(path: Path, *, with_text: bool) -> None:
    """latent [1,4,h,w] (+ text [1,16]) → ConvTranspose x8 → Tanh → image [1,3,8h,8w]."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 0.5, (4, 3, 8, 8)).astype(np.float32), "w")
    nodes = [helper.make_node("ConvTranspose", ["latent", "w"], ["up"], strides=[8, 8])]
    inputs = [helper.make_tensor_value_info("latent", TensorProto.FLOAT, [1, 4, "h", "w"])]
    initializers = [weight]
    last = "up"
    if with_text:
        inputs.append(helper.make_tensor_value_info("text_embedding", TensorProto.FLOAT, [1, 16]))
        initializers.append(numpy_helper.from_array(np.array([1, 16, 1, 1], np.int64), "shape"))
        initializers.append(
            numpy_helper.from_array(rng.normal(0, 1, (3, 16, 1, 1)).astype(np.float32), "proj")
        )
        nodes += [
            helper.make_node("Reshape", ["text_embedding", "shape"], ["text4d"]),
            helper.make_node("Conv", ["text4d", "proj"], ["bias"]),
            helper.make_node("Add", ["up", "bias"], ["mixed"]),
        ]
        last = "mixed"
    nodes.append(helper.make_node("Tanh", [last], ["image"]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        inputs,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.mark.parametrize("with_text", [False, True])
def test_onnx_backend_generates_real_images(tmp_path: Path, with_text: bool) -> None:
    model_path = tmp_path / "tiny.onnx"
    build_tiny_model(model_path, with_text=with_text)
    backends, _ = available_backends(model_path)
    backend = pick(backends, "image", "onnx:tiny")
    assert isinstance(backend, OnnxImageBackend)
    progress: list[float] = []
    params = {"prompt": "a red fox in snow", "width": 128, "height": 64, "seed": 7, "format": "png"}
    output = backend.generate("image", params, tmp_path, progress.append)
    assert output.model == "onnx:tiny"
    with Image.open(output.path) as image:
        assert image.size == (128, 64)
        pixels = np.asarray(image)
    assert pixels.std() > 5  # a picture, not a flat fill
    (tmp_path / "again").mkdir()
    again = backend.generate("image", params, tmp_path / "again", lambda _: None)
    assert np.array_equal(np.asarray(Image.open(again.path)), pixels)  # seeded: reproducible
    assert progress[-1] == 100


def test_text_embedding_is_deterministic_and_normalised() -> None:
    first = hashed_text_embedding("neon city rain", 32)
    assert np.allclose(first, hashed_text_embedding("neon city rain", 32))
    assert abs(float(np.linalg.norm(first)) - 1) < 1e-5
    assert not np.allclose(first, hashed_text_embedding("quiet forest", 32))


def test_bad_model_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        OnnxImageBackend(tmp_path / "missing.onnx")
    wrong = tmp_path / "wrong.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "wrong",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(wrong))
    with pytest.raises(ValueError, match="no 'latent' input"):
        OnnxImageBackend(wrong)
