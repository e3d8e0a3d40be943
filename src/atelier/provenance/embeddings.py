"""CLIP image embeddings through onnxruntime, from model files the operator provides.

No PyPI package ships CLIP weights, and nothing may download at run time, so the semantic
tier runs only when `ATELIER_CLIP_VISUAL_MODEL` names an exported visual encoder (see
docs/operations.md). The pre-processing is CLIP's own: bicubic resize of the short side to the
model's input size, centre crop, RGB scaled to [0, 1] and normalised with CLIP's mean and std,
NCHW, batched. Embeddings are L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
NEAR_SIMILARITY = 0.92


class EncoderUnavailable(RuntimeError):
    """A configured model file is missing (or not a model): an operator's problem, not the
    caller's input."""


class ClipVisualEncoder:
    def __init__(self, model_path: Path, batch_size: int = 16) -> None:
        import onnxruntime as ort

        if not model_path.is_file():
            raise EncoderUnavailable(f"CLIP model {model_path} does not exist")
        providers = [
            p
            for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
            if p in ort.get_available_providers()
        ]
        self.session = ort.InferenceSession(str(model_path), providers=providers)
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        size = first.shape[-1]
        self.size = size if isinstance(size, int) else 224
        self.batch_size = batch_size
        self.name = model_path.stem

    def preprocess(self, image: Image.Image) -> NDArray[np.float32]:
        image = image.convert("RGB")
        scale = self.size / min(image.size)
        resized = image.resize(
            (
                max(self.size, round(image.width * scale)),
                max(self.size, round(image.height * scale)),
            ),
            Image.Resampling.BICUBIC,
        )
        left = (resized.width - self.size) // 2
        top = (resized.height - self.size) // 2
        crop = resized.crop((left, top, left + self.size, top + self.size))
        pixels = np.asarray(crop, dtype=np.float32) / 255.0
        return ((pixels - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)

    def embed(self, images: list[Image.Image]) -> NDArray[np.float32]:
        """[N, D] unit vectors, computed in batches of `batch_size`."""
        outputs = []
        for start in range(0, len(images), self.batch_size):
            batch = np.stack([self.preprocess(i) for i in images[start : start + self.batch_size]])
            result = np.asarray(
                self.session.run(None, {self.input_name: batch})[0], dtype=np.float32
            )
            outputs.append(result.reshape(len(batch), -1))
        vectors = np.concatenate(outputs) if outputs else np.empty((0, 0), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


_encoders: dict[Path, ClipVisualEncoder] = {}


def visual_encoder(model_path: Path | None) -> ClipVisualEncoder | None:
    if model_path is None:
        return None
    if model_path not in _encoders:
        _encoders[model_path] = ClipVisualEncoder(model_path)
    return _encoders[model_path]


def to_pgvector(vector: NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in vector.tolist()) + "]"


class ClipTextEncoder:
    """The text tower: token ids [N, 77] (plus `attention_mask` if the model asks) → [N, D]."""

    def __init__(self, model_path: Path, merges_path: Path, batch_size: int = 32) -> None:
        import onnxruntime as ort

        from atelier.provenance.clip_tokenizer import ClipTokenizer

        for path in (model_path, merges_path):
            if not path.is_file():
                raise EncoderUnavailable(f"CLIP text file {path} does not exist")
        self.session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        length = inputs["input_ids"].shape[-1] if "input_ids" in inputs else None
        if length is None:
            raise ValueError(f"{model_path.name} has no 'input_ids' input (see the model contract)")
        self.tokenizer = ClipTokenizer(merges_path, length if isinstance(length, int) else 77)
        self.wants_mask = "attention_mask" in inputs
        self.batch_size = batch_size
        self.name = model_path.stem

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        outputs = []
        for start in range(0, len(texts), self.batch_size):
            ids = self.tokenizer(texts[start : start + self.batch_size])
            feeds = {"input_ids": ids}
            if self.wants_mask:
                feeds["attention_mask"] = (ids != 0).astype(np.int64)
            result = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
            outputs.append(result.reshape(len(ids), -1))
        vectors = np.concatenate(outputs)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


_text_encoders: dict[tuple[Path, Path], ClipTextEncoder] = {}


def text_encoder(model_path: Path | None, merges_path: Path | None) -> ClipTextEncoder | None:
    if model_path is None or merges_path is None:
        return None
    key = (model_path, merges_path)
    if key not in _text_encoders:
        _text_encoders[key] = ClipTextEncoder(model_path, merges_path)
    return _text_encoders[key]
