"""Video: an animated procedural image sequence plus a soundtrack, encoded by FFmpeg to
H.264/AAC MP4. Frames are piped raw to the `ffmpeg` CLI; the soundtrack is synthesised music
(or speech, when the job carries text or a voice)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from atelier.generators.base import Output, Progress, fraction, seed_for
from atelier.generators.image import field, palette
from atelier.generators.music import synthesize, write_wav
from atelier.generators.speech import EspeakSpeechBackend

MODEL = "ffmpeg-procedural-v1"


class FfmpegVideoBackend:
    name = "ffmpeg-video"
    kinds: tuple[str, ...] = ("video",)
    models: tuple[str, ...] = (MODEL,)

    def __init__(self) -> None:
        binary = shutil.which("ffmpeg")
        if binary is None:
            raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
        self.binary = binary

    def _soundtrack(self, params: dict[str, Any], out_dir: Path) -> Path:
        audio_dir = out_dir / "audio"
        audio_dir.mkdir(exist_ok=True)
        if params.get("text") or params.get("voice"):
            return EspeakSpeechBackend().generate("speech", params, audio_dir, lambda _: None).path
        left, right = synthesize(params, lambda _: None)
        path = audio_dir / "music.wav"
        write_wav(path, left, right)
        return path

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        width, height = int(params.get("width") or 512), int(params.get("height") or 288)
        fps = int(params.get("fps") or 24)
        duration = float(params.get("duration_s") or 5.0)
        frames = max(1, round(duration * fps))
        progress(2)
        audio = self._soundtrack(params, out_dir)
        progress(10)
        rng = np.random.default_rng(seed_for(params))
        colours = palette(rng)
        base = field(rng, width * 2, height * 2)
        path = out_dir / "result.mp4"
        command = [
            self.binary,
            "-nostdin",
            "-y",
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            str(fps),
            "-i",
            "-",
            "-i",
            str(audio),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-t",
            f"{duration:.3f}",
            "-movflags",
            "+faststart",
            str(path),
        ]
        log = (out_dir / "ffmpeg.log").open("wb")  # a file: a full stderr pipe would deadlock
        encoder = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
        assert encoder.stdin is not None
        try:
            for i in range(frames):
                t = i / frames
                x = int((np.sin(2 * np.pi * t) * 0.5 + 0.5) * width)
                y = int((np.cos(2 * np.pi * t) * 0.5 + 0.5) * height)
                window = base[y : y + height, x : x + width]
                shifted = fraction(window + t)
                encoder.stdin.write(colours[(shifted * 255).astype(np.uint8)].tobytes())
                if i % max(1, frames // 20) == 0:
                    progress(10 + 85 * i / frames)
            encoder.stdin.close()
            encoder.wait(timeout=600)
        finally:
            if encoder.poll() is None:
                encoder.kill()
            log.close()
        if encoder.returncode != 0:
            errors = (out_dir / "ffmpeg.log").read_text(errors="replace")
            raise RuntimeError(f"ffmpeg failed: {errors[-500:]}")
        progress(100)
        return Output(path, "video/mp4", MODEL)
