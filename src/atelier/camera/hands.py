"""Hands and gestures: MediaPipe's palm detector and hand landmark model (the `lite` `.tflite`
files inside mediapipe 0.10.21, run by `ai-edge-litert`), then a small set of gestures read
from the 21 landmarks' geometry.

The steps are MediaPipe's own: a palm box with seven keypoints (SSD, 2016 anchors over 192²);
the hand's rotation from the wrist to the middle finger's base; a square crop around the palm
grown 2.6 times and moved half a palm towards the fingers, rotated upright; 21 landmarks on
that 224² crop, mapped back to the frame.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from atelier.camera.faces import model_file, ssd_anchors, weighted_nms

PALM_FILE = "palm_detection_lite.tflite"
LANDMARK_FILE = "hand_landmark_lite.tflite"
PALM_SIZE = 192
LANDMARK_SIZE = 224
MIN_PALM_SCORE = 0.5
MIN_HAND_PRESENCE = 0.5
MAX_HANDS = 2
GESTURES = ("open_palm", "fist", "thumbs_up", "peace", "point")

WRIST = 0
THUMB = (1, 2, 3, 4)
FINGERS = {  # base (MCP), middle joint (PIP), tip
    "index": (5, 6, 8),
    "middle": (9, 10, 12),
    "ring": (13, 14, 16),
    "pinky": (17, 18, 20),
}


@dataclass(frozen=True)
class Hand:
    """A hand in frame pixels: its box, 21 landmarks (x, y) and the gesture they make."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[tuple[float, float], ...]
    gesture: str | None


def _sigmoid(value: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(value.astype(np.float64), -100, 100)))
    return result


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _straight(points: list[tuple[float, float]]) -> float:
    """How straight a chain of joints is: 1.0 when the segments all point the same way."""
    total = sum(_distance(a, b) for a, b in itertools.pairwise(points))
    return _distance(points[0], points[-1]) / total if total else 0.0


def gesture_of(landmarks: tuple[tuple[float, float], ...]) -> str | None:
    """One of GESTURES, or None for a hand that makes none of them clearly.

    A finger is extended when its tip is well beyond its middle joint as seen from the wrist
    and the finger is nearly straight; folded when the tip is back near the palm. The thumb
    is extended when it is straight and its tip is far from the index finger's base. Anything
    in between makes no gesture: a half-bent hand is not a command. Image y grows downwards,
    so "up" is a smaller y."""
    palm = _distance(landmarks[WRIST], landmarks[9]) or 1.0
    wrist = landmarks[WRIST]
    state: dict[str, bool | None] = {}
    for name, (base, middle, tip) in FINGERS.items():
        reach = _distance(wrist, landmarks[tip]) / max(_distance(wrist, landmarks[middle]), 1e-6)
        chain = [landmarks[i] for i in (base, middle, base + 2, tip)]
        if reach > 1.3 and _straight(chain) > 0.9:
            state[name] = True
        elif reach < 1.0:
            state[name] = False
        else:
            state[name] = None
    thumb_tip, index_base = landmarks[THUMB[3]], landmarks[FINGERS["index"][0]]
    thumb_out = (
        _straight([landmarks[i] for i in THUMB]) > 0.85
        and _distance(thumb_tip, index_base) > 0.6 * palm
    )
    fingers = (state["index"], state["middle"], state["ring"], state["pinky"])
    if fingers == (True, True, True, True) and thumb_out:
        return "open_palm"
    if fingers == (False, False, False, False):
        # a fist seen from the front has its thumb across the fingers, level with them; a
        # thumbs-up holds it straight and well above every other joint
        highest_finger = min(landmarks[i][1] for i in range(5, 21))
        if thumb_out and thumb_tip[1] < highest_finger - 0.4 * palm:
            return "thumbs_up"
        return "fist"
    if fingers == (True, True, False, False):
        return "peace"
    if fingers == (True, False, False, False):
        return "point"
    return None


class HandDetector:
    """Up to MAX_HANDS hands per frame, with their gestures (~10 ms per hand on one core)."""

    def __init__(self, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._palm = Interpreter(model_path=str(model_file(PALM_FILE)), num_threads=threads)
        self._palm.allocate_tensors()
        outputs = sorted(self._palm.get_output_details(), key=lambda d: d["shape"][-1])
        self._palm_scores, self._palm_boxes = outputs[0]["index"], outputs[1]["index"]
        self._palm_input = self._palm.get_input_details()[0]["index"]
        self._anchors = ssd_anchors(PALM_SIZE, [8, 16], [2, 6])
        self._marks = Interpreter(model_path=str(model_file(LANDMARK_FILE)), num_threads=threads)
        self._marks.allocate_tensors()
        self._marks_input = self._marks.get_input_details()[0]["index"]
        by_name = {d["name"]: d["index"] for d in self._marks.get_output_details()}
        self._landmarks, self._presence = by_name["Identity"], by_name["Identity_1"]
        self._lock = threading.Lock()

    def _palms(self, frame: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """Palm boxes and keypoints, normalised to the padded square the model saw, with the
        padding undone: (box, score, keypoints) in frame pixels."""
        height, width = frame.shape[:2]
        scale = PALM_SIZE / max(width, height)
        resized = Image.fromarray(frame).resize(
            (max(1, round(width * scale)), max(1, round(height * scale))),
            Image.Resampling.BILINEAR,
        )
        pad_x, pad_y = (PALM_SIZE - resized.width) // 2, (PALM_SIZE - resized.height) // 2
        tensor = np.zeros((1, PALM_SIZE, PALM_SIZE, 3), dtype=np.float32)
        tensor[0, pad_y : pad_y + resized.height, pad_x : pad_x + resized.width] = (
            np.asarray(resized, dtype=np.float32) / 255.0
        )
        with self._lock:
            self._palm.set_tensor(self._palm_input, tensor)
            self._palm.invoke()
            raw = self._palm.get_tensor(self._palm_boxes)[0]
            scores = _sigmoid(self._palm.get_tensor(self._palm_scores)[0, :, 0])
        keep = scores >= MIN_PALM_SCORE
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self._anchors[keep]
        centre = raw[:, 0:2] / PALM_SIZE + anchors
        half = raw[:, 2:4] / PALM_SIZE / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        points = raw[:, 4:18].reshape(-1, 7, 2) / PALM_SIZE + anchors[:, None, :]
        found = weighted_nms(boxes, scores, points, 0.3)[:MAX_HANDS]
        offset = np.array([pad_x, pad_y], dtype=np.float64)
        return [
            (
                ((box.reshape(2, 2) * PALM_SIZE - offset) / scale).reshape(4),
                score,
                (pts * PALM_SIZE - offset) / scale,
            )
            for box, score, pts in found
        ]

    def detect(self, frame: np.ndarray) -> list[Hand]:
        hands = []
        for box, _score, keypoints in self._palms(frame):
            hand = self._landmarks_of(frame, box, keypoints)
            if hand is not None:
                hands.append(hand)
        return hands

    def _landmarks_of(
        self, frame: np.ndarray, box: np.ndarray, keypoints: np.ndarray
    ) -> Hand | None:
        (wx, wy), (mx, my) = keypoints[0], keypoints[2]
        rotation = math.pi / 2 - math.atan2(-(my - wy), mx - wx)
        rotation -= 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
        width, height = box[2] - box[0], box[3] - box[1]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        cos, sin = math.cos(rotation), math.sin(rotation)
        cx, cy = cx + height * 0.5 * sin, cy - height * 0.5 * cos  # half a palm up the hand
        side = max(width, height) * 2.6

        def to_frame(u: float, v: float) -> tuple[float, float]:
            x, y = (u / LANDMARK_SIZE - 0.5) * side, (v / LANDMARK_SIZE - 0.5) * side
            return cx + cos * x - sin * y, cy + sin * x + cos * y

        step = side / LANDMARK_SIZE
        origin = to_frame(0, 0)
        crop = Image.fromarray(frame).transform(
            (LANDMARK_SIZE, LANDMARK_SIZE),
            Image.Transform.AFFINE,
            (cos * step, -sin * step, origin[0], sin * step, cos * step, origin[1]),
            resample=Image.Resampling.BILINEAR,
        )
        tensor = (np.asarray(crop, dtype=np.float32) / 255.0)[None]
        with self._lock:
            self._marks.set_tensor(self._marks_input, tensor)
            self._marks.invoke()
            raw = self._marks.get_tensor(self._landmarks)[0].reshape(21, 3)
            presence = float(self._marks.get_tensor(self._presence).reshape(1)[0])  # 0..1
        if presence < MIN_HAND_PRESENCE:
            return None
        landmarks = tuple(to_frame(float(x), float(y)) for x, y, _z in raw)
        xs, ys = [p[0] for p in landmarks], [p[1] for p in landmarks]
        frame_h, frame_w = frame.shape[:2]
        hand_box = (
            max(0, int(min(xs))),
            max(0, int(min(ys))),
            min(frame_w, round(max(xs))),
            min(frame_h, round(max(ys))),
        )
        return Hand(hand_box, presence, landmarks, gesture_of(landmarks))
