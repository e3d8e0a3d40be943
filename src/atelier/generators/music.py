"""Synthesised music in a genre: drums, bass and chords rendered with numpy to 16-bit WAV.

Each genre fixes a tempo range, a scale, a drum pattern and timbres; the seed picks the key,
the chord progression and the variations. Deterministic for a given seed and parameters.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from atelier.generators.base import Output, Progress, fraction, seed_for

MODEL = "synth-v1"
RATE = 44_100
Signal = NDArray[np.float64]


@dataclass(frozen=True)
class Genre:
    bpm: int
    minor: bool
    kick: str  # 16 steps, x = hit
    snare: str
    hat: str
    bass_wave: str
    pad_voices: int
    drive: float = 0.0
    noise: float = 0.0


GENRES: dict[str, Genre] = {
    "electronic": Genre(
        128, True, "x...x...x...x...", "....x.......x...", "..x...x...x...x.", "saw", 3
    ),
    "synthwave": Genre(
        100, True, "x...x...x...x...", "....x.......x...", "x.x.x.x.x.x.x.x.", "saw", 4
    ),
    "hip-hop": Genre(
        90, True, "x.....x...x.....", "....x.......x...", "x.x.x.x.x.x.x.x.", "sine", 2
    ),
    "lo-fi": Genre(
        75, False, "x.......x.x.....", "....x.......x...", "..x...x...x...x.", "sine", 3, noise=0.01
    ),
    "orchestral": Genre(
        96, True, "x.......x.......", "................", "................", "sine", 6
    ),
    "darksynth": Genre(
        112, True, "x...x...x...x...", "....x.......x...", "xxxxxxxxxxxxxxxx", "saw", 3, drive=3.0
    ),
    "ambient": Genre(
        70, False, "................", "................", "................", "sine", 5
    ),
}

_KEYWORDS = {
    "hip hop": "hip-hop",
    "hiphop": "hip-hop",
    "hip-hop": "hip-hop",
    "boom bap": "hip-hop",
    "lofi": "lo-fi",
    "lo-fi": "lo-fi",
    "chill": "lo-fi",
    "synthwave": "synthwave",
    "retro": "synthwave",
    "orchestra": "orchestral",
    "epic": "orchestral",
    "cinematic": "orchestral",
    "dark": "darksynth",
    "cyberpunk": "darksynth",
    "industrial": "darksynth",
    "ambient": "ambient",
}

PROGRESSIONS_MINOR = [[0, 5, 3, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 4, 5, 3]]
PROGRESSIONS_MAJOR = [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 4], [1, 4, 0, 5]]
MINOR = [0, 2, 3, 5, 7, 8, 10]
MAJOR = [0, 2, 4, 5, 7, 9, 11]


def genre_for(params: dict[str, Any]) -> str:
    requested = str(params.get("genre") or "").lower()
    if requested in GENRES:
        return requested
    prompt = str(params.get("prompt") or "").lower()
    for word, genre in _KEYWORDS.items():
        if word in prompt:
            return genre
    return "electronic"


def _osc(kind: str, freq: float, t: Signal) -> Signal:
    phase = fraction(freq * t)
    if kind == "saw":
        return 2.0 * phase - 1.0
    if kind == "square":
        return np.where(phase < 0.5, 1.0, -1.0)
    return np.sin(2 * np.pi * freq * t)


def _midi(note: float) -> float:
    return float(440.0 * 2 ** ((note - 69) / 12))


def _kick(length: int) -> Signal:
    t = np.arange(length) / RATE
    freq = 50 + 100 * np.exp(-t * 30)
    return np.sin(2 * np.pi * np.cumsum(freq) / RATE) * np.exp(-t * 8)


def _snare(length: int, rng: np.random.Generator) -> Signal:
    t = np.arange(length) / RATE
    return (rng.uniform(-1, 1, length) * 0.7 + np.sin(2 * np.pi * 190 * t) * 0.3) * np.exp(-t * 18)


def _hat(length: int, rng: np.random.Generator) -> Signal:
    t = np.arange(length) / RATE
    noise = rng.uniform(-1, 1, length)
    return np.diff(noise, prepend=0.0) * np.exp(-t * 60) * 0.5


def synthesize(params: dict[str, Any], progress: Progress) -> tuple[Signal, Signal]:
    rng = np.random.default_rng(seed_for(params))
    genre = GENRES[genre_for(params)]
    bpm = int(params.get("bpm") or genre.bpm)
    duration = float(params.get("duration_s") or 10.0)
    total = int(duration * RATE)
    step = int(RATE * 60 / bpm / 4)  # a sixteenth note
    root = 45 + int(rng.integers(0, 12))  # bass root around A2
    scale = MINOR if genre.minor else MAJOR
    progression = (PROGRESSIONS_MINOR if genre.minor else PROGRESSIONS_MAJOR)[
        int(rng.integers(0, 4))
    ]
    kick, snare, hat = _kick(step * 3), _snare(step * 2, rng), _hat(step, rng)
    bar = step * 16
    bars = max(1, int(np.ceil(total / bar)))
    left = np.zeros(bars * bar + step * 4)  # room for the last bar's drum tails
    right = np.zeros(bars * bar + step * 4)
    for b in range(bars):
        start = b * bar
        degree = progression[b % len(progression)]
        chord_root = root + scale[degree % 7]
        t_bar = np.arange(bar) / RATE
        bass = _osc(genre.bass_wave, _midi(chord_root), t_bar) * 0.25
        pad = np.zeros(bar)
        for voice in range(genre.pad_voices):
            interval = scale[(degree + 2 * voice) % 7] + 12 * (1 + (degree + 2 * voice) // 7)
            detune = 1 + rng.uniform(-0.003, 0.003)
            pad += np.sin(2 * np.pi * _midi(root + interval) * detune * t_bar) / genre.pad_voices
        envelope = np.minimum(1.0, t_bar * 8) * np.minimum(1.0, (bar / RATE - t_bar) * 8)
        left[start : start + bar] += bass + pad * envelope * 0.22
        right[start : start + bar] += bass + pad * envelope * 0.2
        for s in range(16):
            at = start + s * step
            if genre.kick[s] == "x":
                left[at : at + len(kick)] += kick * 0.9
                right[at : at + len(kick)] += kick * 0.9
            if genre.snare[s] == "x":
                left[at : at + len(snare)] += snare * 0.45
                right[at : at + len(snare)] += snare * 0.5
            if genre.hat[s] == "x" and rng.random() > 0.1:
                right[at : at + len(hat)] += hat * 0.35
                left[at : at + len(hat)] += hat * 0.25
        progress(5 + 85 * (b + 1) / bars)
    left, right = left[:total], right[:total]
    if genre.drive:
        left, right = np.tanh(left * genre.drive), np.tanh(right * genre.drive)
    if genre.noise:
        left = left + rng.normal(0, genre.noise, total)
        right = right + rng.normal(0, genre.noise, total)
    fade = np.minimum(1.0, np.minimum(np.arange(total), total - np.arange(total)) / (RATE * 0.05))
    peak = max(float(np.abs(left).max()), float(np.abs(right).max()), 1e-9)
    return left * fade * 0.89 / peak, right * fade * 0.89 / peak


def write_wav(path: Path, left: Signal, right: Signal) -> None:
    """16-bit stereo; samples that are not numbers fail the job rather than becoming noise
    (a cast to int16 would quietly make them -32768)."""
    if not (np.isfinite(left).all() and np.isfinite(right).all()):
        raise ValueError("the synthesised audio has samples that are not numbers")
    stereo = np.empty(left.size * 2, dtype=np.int16)
    stereo[0::2] = np.clip(left * 32767, -32768, 32767).astype(np.int16)
    stereo[1::2] = np.clip(right * 32767, -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(stereo.tobytes())


class SynthMusicBackend:
    name = "synth-music"
    kinds: tuple[str, ...] = ("music",)
    models: tuple[str, ...] = (MODEL,)

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        progress(2)
        left, right = synthesize(params, progress)
        path = out_dir / "result.wav"
        write_wav(path, left, right)
        progress(100)
        return Output(path, "audio/wav", MODEL)
