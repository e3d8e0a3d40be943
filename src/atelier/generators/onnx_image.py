"""A GPU-capable image backend that runs an operator-supplied ONNX model.

Contract for the model file (docs/operations.md shows how to export one):
- input `latent`: float32 `[1, C, H/f, W/f]` where C and f come from the model's declared
  shape (f = the upsampling factor; static dims are used as they are);
- optional input `text_embedding`: float32 `[1, D]`, fed with a deterministic hashed
  bag-of-words embedding of the prompt;
- first output: float32 `[1, 3, H, W]`, values in [0, 1] or [-1, 1].
onnxruntime picks CUDA when the GPU build is installed, else the CPU.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from atelier.generators.base import MIME_BY_FORMAT, Output, Progress, seed_for
from atelier.generators.image import save_image


def hashed_text_embedding(text: str, dims: int) -> NDArray[np.float32]:
    vector = np.zeros(dims, dtype=np.float32)
    for word in text.lower().split():
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dims
        vector[index] += 1.0 if digest[4] % 2 else -1.0
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).reshape(1, dims)


class OnnxImageBackend:
    name = "onnx-image"
    kinds: tuple[str, ...] = ("image",)

    def __init__(self, model_path: Path, model_id: str | None = None) -> None:
        import onnxruntime as ort

        if not model_path.is_file():
            raise FileNotFoundError(f"ONNX model {model_path} does not exist")
        providers = [
            p
            for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
            if p in ort.get_available_providers()
        ]
        self.session = ort.InferenceSession(str(model_path), providers=providers)
        inputs = {i.name: i for i in self.session.get_inputs()}
        if "latent" not in inputs:
            raise ValueError(f"{model_path.name} has no 'latent' input (see the model contract)")
        self.latent_shape = inputs["latent"].shape
        self.text_dims = inputs["text_embedding"].shape[1] if "text_embedding" in inputs else None
        self.models: tuple[str, ...] = (model_id or f"onnx:{model_path.stem}",)

    def _latent_dims(self, width: int, height: int) -> tuple[int, int, int]:
        channels = self.latent_shape[1] if isinstance(self.latent_shape[1], int) else 4
        h, w = self.latent_shape[2], self.latent_shape[3]
        if isinstance(h, int) and isinstance(w, int):
            return channels, h, w
        return channels, max(1, height // 8), max(1, width // 8)

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        width, height = int(params.get("width") or 512), int(params.get("height") or 512)
        channels, lh, lw = self._latent_dims(width, height)
        rng = np.random.default_rng(seed_for(params))
        feeds: dict[str, NDArray[np.float32]] = {
            "latent": rng.standard_normal((1, channels, lh, lw)).astype(np.float32)
        }
        if self.text_dims is not None:
            feeds["text_embedding"] = hashed_text_embedding(
                str(params.get("prompt", "")), self.text_dims
            )
        progress(10)
        output = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
        progress(80)
        if output.ndim != 4 or output.shape[1] != 3:
            raise ValueError(f"model output has shape {output.shape}; expected [1, 3, H, W]")
        image = output[0]
        if float(image.min()) < 0:
            image = (image + 1) / 2
        pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
        fmt = str(params.get("format") or "png")
        path = out_dir / f"result.{fmt}"
        save_image(Image.fromarray(pixels, "RGB"), path, fmt)
        progress(100)
        return Output(path, MIME_BY_FORMAT[fmt], self.models[0])
