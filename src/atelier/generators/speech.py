"""Speech with espeak-ng (Debian package `espeak-ng`), written as WAV."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from atelier.generators.base import JobUnsuitable, Output, Progress

MODEL = "espeak-ng"
VOICE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8}){0,4}(\+[a-z0-9]{1,14})?$")


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng")


class EspeakSpeechBackend:
    name = "espeak-speech"
    kinds: tuple[str, ...] = ("speech",)
    models: tuple[str, ...] = (MODEL,)

    def __init__(self) -> None:
        binary = espeak_binary()
        if binary is None:
            raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
        self.binary = binary

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        text = str(params.get("text") or params.get("prompt") or "")
        voice = str(params.get("voice") or "en-us")
        if not VOICE_RE.match(voice):
            raise JobUnsuitable(f"voice {voice!r} is not an espeak-ng voice name")
        speed = int(params.get("speed") or 160)
        progress(5)
        text_file = out_dir / "text.txt"
        text_file.write_text(text)  # a file, not argv: no option injection from prompts
        path = out_dir / "result.wav"
        subprocess.run(
            [self.binary, "-v", voice, "-s", str(speed), "-w", str(path), "-f", str(text_file)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        progress(100)
        return Output(path, "audio/wav", MODEL)
