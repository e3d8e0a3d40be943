"""Faces: detection (BlazeFace full range), quality, and 128-d descriptors (dlib).

Every model ships inside a PyPI package and runs offline: MediaPipe 0.10.21's BlazeFace
`.tflite` (the wheel is installed without its dependencies, only for its model files: its
Python code needs numpy<2) run by `ai-edge-litert`; dlib's 5-point shape predictor and ResNet
face descriptor from `face-recognition-models` (CC0), run by `dlib-bin`. Set
`ATELIER_CAMERA_MODELS` to a directory holding the same file names to use other copies.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

DETECTOR_FILE = "face_detection_full_range_sparse.tflite"
DETECTOR_SIZE = 192
MIN_SCORE = 0.6
NMS_IOU = 0.3
MIN_FACE_PX = 36  # smaller faces are detected (and blurred) but never recognised
MIN_SHARPNESS = 15.0


class ModelMissing(RuntimeError):
    pass


def model_file(name: str) -> Path:
    """A model file: from `ATELIER_CAMERA_MODELS` if set, else from the installed package."""
    configured = os.environ.get("ATELIER_CAMERA_MODELS")
    if configured and (Path(configured) / name).is_file():
        return Path(configured) / name
    if name.endswith(".dat"):
        try:
            import face_recognition_models as frm
        except ImportError:
            raise ModelMissing(
                f"{name}: install the camera extra (pip install -e '.[camera]')"
            ) from None
        path = Path(frm.__file__).parent / "models" / name
    else:
        try:
            files = importlib.metadata.files("mediapipe") or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        found = [f for f in files if f.name == name]
        if not found:
            raise ModelMissing(
                f"{name}: install mediapipe==0.10.21 --no-deps (its model files), or set "
                "ATELIER_CAMERA_MODELS"
            )
        path = Path(str(found[0].locate()))
    if not path.is_file():
        raise ModelMissing(f"{name} is not at {path}")
    return path


@dataclass(frozen=True)
class Face:
    """A detected face in frame pixels: box (left, top, right, bottom), score, the six
    BlazeFace keypoints (right eye, left eye, nose, mouth, right ear, left ear)."""

    box: tuple[int, int, int, int]
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def size(self) -> int:
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])


def ssd_anchors(size: int, strides: list[int], per_cell: list[int]) -> np.ndarray:
    """MediaPipe's SSD anchors with a fixed size: (x_center, y_center) per anchor,
    normalised, cell by cell, `per_cell[i]` anchors for each cell of stride `strides[i]`."""
    centres: list[tuple[float, float]] = []
    for stride, count in zip(strides, per_cell, strict=True):
        cells = -(-size // stride)
        for y in range(cells):
            for x in range(cells):
                centres.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * count)
    return np.asarray(centres, dtype=np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    left, top = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    right, bottom = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.asarray(inter / np.maximum(union, 1e-9))


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, threshold: float
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's weighted non-maximum suppression: each kept detection is the score-weighted
    mean of the ones it overlaps, keeping the best score."""
    order = np.argsort(-scores)
    kept: list[tuple[np.ndarray, float, np.ndarray]] = []
    while order.size:
        overlaps = _iou(boxes[order[0]], boxes[order])
        group = order[overlaps > threshold]
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        pts = (points[group] * weights[:, :, None]).sum(0) / weights.sum()
        kept.append((box, float(scores[order[0]]), pts))
        order = order[overlaps <= threshold]
    return kept


class FaceDetector:
    """BlazeFace full range (192x192, one anchor per 4-pixel cell: 2304 anchors)."""

    def __init__(self, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(
            model_path=str(model_file(DETECTOR_FILE)), num_threads=threads
        )
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["shape"][-1])
        self._scores, self._boxes = outputs[0]["index"], outputs[1]["index"]
        self._anchors = ssd_anchors(DETECTOR_SIZE, [4], [1])
        self._lock = threading.Lock()

    def detect(self, frame: np.ndarray) -> list[Face]:
        """Faces in an RGB frame (H, W, 3 uint8), in frame pixels."""
        height, width = frame.shape[:2]
        scale = DETECTOR_SIZE / max(width, height)
        resized = np.asarray(
            Image.fromarray(frame).resize(
                (max(1, round(width * scale)), max(1, round(height * scale))),
                Image.Resampling.BILINEAR,
            )
        )
        pad_x = (DETECTOR_SIZE - resized.shape[1]) // 2
        pad_y = (DETECTOR_SIZE - resized.shape[0]) // 2
        tensor = np.zeros((1, DETECTOR_SIZE, DETECTOR_SIZE, 3), dtype=np.float32)
        tensor[0, pad_y : pad_y + resized.shape[0], pad_x : pad_x + resized.shape[1]] = (
            resized.astype(np.float32) / 127.5 - 1.0
        )
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._boxes)[0]
            logits = self._interpreter.get_tensor(self._scores)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
        keep = scores >= MIN_SCORE
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self._anchors[keep]
        centre = raw[:, 0:2] / DETECTOR_SIZE + anchors
        half = raw[:, 2:4] / DETECTOR_SIZE / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        points = raw[:, 4:16].reshape(-1, 6, 2) / DETECTOR_SIZE + anchors[:, None, :]
        faces = []
        for box, score, pts in weighted_nms(boxes, scores, points, NMS_IOU):

            def to_frame(x: float, y: float) -> tuple[float, float]:
                return (x * DETECTOR_SIZE - pad_x) / scale, (y * DETECTOR_SIZE - pad_y) / scale

            left, top = to_frame(box[0], box[1])
            right, bottom = to_frame(box[2], box[3])
            clipped = (
                max(0, int(left)),
                max(0, int(top)),
                min(width, round(right)),
                min(height, round(bottom)),
            )
            if clipped[2] - clipped[0] < 4 or clipped[3] - clipped[1] < 4:
                continue
            faces.append(Face(clipped, score, tuple(to_frame(float(x), float(y)) for x, y in pts)))
        return faces


def sharpness(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Variance of the Laplacian of the face's luma: low for blurred or smeared faces."""
    crop = frame[box[1] : box[3], box[0] : box[2]].astype(np.float32)
    if crop.shape[0] < 3 or crop.shape[1] < 3:
        return 0.0
    gray = crop @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = (
        -4 * gray[1:-1, 1:-1] + gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:]
    )
    return float(lap.var())


def frontal(face: Face) -> bool:
    """Both eyes visible and the nose between them: a face turned away is not recognised."""
    (rx, _), (lx, _), (nx, _) = face.keypoints[0], face.keypoints[1], face.keypoints[2]
    low, high = min(rx, lx), max(rx, lx)
    span = high - low
    return span > 0.2 * face.size and low + 0.15 * span < nx < high - 0.15 * span


def good_enough(frame: np.ndarray, face: Face) -> str | None:
    """Why this face cannot be recognised (None: it can)."""
    if face.size < MIN_FACE_PX:
        return "too-small"
    if face.score < 0.75:
        return "low-confidence"
    if not frontal(face):
        return "not-frontal"
    if sharpness(frame, face.box) < MIN_SHARPNESS:
        return "blurred"
    return None


@cache
def _dlib_models() -> tuple[object, object]:
    import dlib

    return (
        dlib.shape_predictor(str(model_file("shape_predictor_5_face_landmarks.dat"))),
        dlib.face_recognition_model_v1(
            str(model_file("dlib_face_recognition_resnet_model_v1.dat"))
        ),
    )


class FaceEncoder:
    """dlib's 128-d face descriptor (faces of one person lie within ~0.5 of each other)."""

    def __init__(self) -> None:
        self._predictor, self._model = _dlib_models()
        self._lock = threading.Lock()

    def encode(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        import dlib

        rectangle = dlib.rectangle(*box)
        with self._lock:
            shape = self._predictor(frame, rectangle)  # type: ignore[operator]
            vector = self._model.compute_face_descriptor(frame, shape)  # type: ignore[attr-defined]
        return np.asarray(vector, dtype=np.float32)
