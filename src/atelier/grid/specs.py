"""What a generation request asks for, normalised and bounded, and what it costs.

Both entry points (OBSIDIAN's `/api/v1/generate`, Soulvan's `/api/jobs`) end here, so one set
of limits and defaults applies to every request. A spec is what workers receive: kind and
parameters, never who asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atelier.core.errors import InvalidInput
from atelier.generators.base import JobUnsuitable
from atelier.generators.blender import DEFAULT_SAMPLES, MAX_PIXEL_SAMPLES, MAX_SAMPLES
from atelier.generators.mesh3d import TEXTURE_SIDES, decode_picture

KINDS = ("image", "music", "speech", "video", "render", "3d")
FORMATS: dict[str, tuple[str, ...]] = {
    "image": ("png", "jpeg"),
    "render": ("png", "jpeg", "exr"),
    "music": ("wav",),
    "speech": ("wav",),
    "video": ("mp4",),
    "3d": ("glb",),
}
MAX_SIDE = {"image": 4096, "render": 4096, "video": 1920}
MAX_DURATION_S = {"music": 300.0, "video": 60.0, "speech": 600.0}
MAX_TEXT = 5000
DEFAULT_SIZE = {"image": (512, 512), "render": (1024, 576), "video": (512, 288)}
DEFAULT_DURATION_S = {"music": 10.0, "video": 5.0}
# espeak-ng 1.51's languages (`espeak-ng --voices`) and voice variants (`--voices=variant`):
# a voice is `language` or `language+variant`. Checked at submit, so a job no worker can speak
# is a 422 for its creator instead of a failure on every worker that tries it.
SPEECH_LANGUAGES = frozenset(
    [
        "af",
        "am",
        "an",
        "ar",
        "as",
        "az",
        "ba",
        "be",
        "bg",
        "bn",
        "bpy",
        "bs",
        "ca",
        "chr-us-qaaa-x-west",
        "cmn",
        "cmn-latn-pinyin",
        "cs",
        "cv",
        "cy",
        "da",
        "de",
        "el",
        "en",
        "en-029",
        "en-gb",
        "en-gb-scotland",
        "en-gb-x-gbclan",
        "en-gb-x-gbcwmd",
        "en-gb-x-rp",
        "en-us",
        "en-us-nyc",
        "eo",
        "es",
        "es-419",
        "et",
        "eu",
        "fa",
        "fa-latn",
        "fi",
        "fr",
        "fr-be",
        "fr-ch",
        "fr-fr",
        "ga",
        "gd",
        "gn",
        "grc",
        "gu",
        "hak",
        "haw",
        "he",
        "hi",
        "hr",
        "ht",
        "hu",
        "hy",
        "hyw",
        "ia",
        "id",
        "io",
        "is",
        "it",
        "ja",
        "jbo",
        "ka",
        "kk",
        "kl",
        "kn",
        "ko",
        "kok",
        "ku",
        "ky",
        "la",
        "lb",
        "lfn",
        "lt",
        "ltg",
        "lv",
        "mi",
        "mk",
        "ml",
        "mr",
        "ms",
        "mt",
        "my",
        "nb",
        "nci",
        "ne",
        "nl",
        "nog",
        "om",
        "or",
        "pa",
        "pap",
        "piqd",
        "pl",
        "pt",
        "pt-br",
        "py",
        "qdb",
        "qu",
        "quc",
        "qya",
        "ro",
        "ru",
        "ru-lv",
        "sd",
        "shn",
        "si",
        "sjn",
        "sk",
        "sl",
        "smj",
        "sq",
        "sr",
        "sv",
        "sw",
        "ta",
        "te",
        "th",
        "tk",
        "tn",
        "tr",
        "tt",
        "ug",
        "uk",
        "ur",
        "uz",
        "vi",
        "vi-vn-x-central",
        "vi-vn-x-south",
        "yue",
    ]
)
SPEECH_VARIANTS = frozenset(
    [
        "adam",
        "alex",
        "alicia",
        "andrea",
        "andy",
        "annie",
        "announcer",
        "anika",
        "anikarobot",
        "anxiousandy",
        "antonio",
        "aunty",
        "belinda",
        "benjamin",
        "boris",
        "caleb",
        "croak",
        "david",
        "demonic",
        "denis",
        "diogo",
        "ed",
        "edward",
        "edward2",
        "f1",
        "f2",
        "f3",
        "f4",
        "f5",
        "fast",
        "gene",
        "gene2",
        "grandma",
        "grandpa",
        "gustave",
        "henrique",
        "hugo",
        "iven",
        "iven2",
        "iven3",
        "iven4",
        "jacky",
        "john",
        "kaukovalta",
        "klatt",
        "klatt2",
        "klatt3",
        "klatt4",
        "klatt5",
        "klatt6",
        "lee",
        "linda",
        "m1",
        "m2",
        "m3",
        "m4",
        "m5",
        "m6",
        "m7",
        "m8",
        "marcelo",
        "marco",
        "mario",
        "max",
        "michael",
        "michel",
        "miguel",
        "mike",
        "mr",
        "nguyen",
        "norbert",
        "pablo",
        "paul",
        "pedro",
        "quincy",
        "ricishaymax",
        "ricishaymax2",
        "ricishaymax3",
        "rob",
        "robert",
        "robosoft",
        "robosoft2",
        "robosoft3",
        "robosoft4",
        "robosoft5",
        "robosoft6",
        "robosoft7",
        "robosoft8",
        "sandro",
        "shelby",
        "steph",
        "steph2",
        "steph3",
        "storm",
        "travis",
        "tweaky",
        "unirobot",
        "victor",
        "whisper",
        "whisperf",
        "zac",
    ]
)


def voice_problem(voice: str) -> str | None:
    language, _, variant = voice.partition("+")
    if language not in SPEECH_LANGUAGES:
        return f"{language!r} is not a language espeak-ng speaks (e.g. en-us, en-gb, fr, de)"
    if variant and variant not in SPEECH_VARIANTS:
        return f"{variant!r} is not an espeak-ng voice variant (e.g. m3, f2, whisper)"
    return None


@dataclass(frozen=True)
class JobSpec:
    kind: str
    params: dict[str, Any]
    model: str | None
    pixels: int
    duration_s: float

    @property
    def format(self) -> str:
        return str(self.params["format"])

    def estimate_s(self) -> float:
        """Rough compute time on one worker; sets lease TTLs and ETAs until history exists."""
        if self.kind == "render":  # Cycles on 2 CPU cores: ~1.5M pixel-samples a second
            samples = int(self.params.get("samples") or DEFAULT_SAMPLES)
            return 3.0 + self.pixels * samples / 1.5e6
        if self.kind == "image":
            return 2.0 + self.pixels / 1e6 * 2
        if self.kind == "music":
            return 1.0 + self.duration_s * 0.1
        if self.kind == "speech":
            return 1.0 + len(str(self.params.get("text") or "")) / 200
        if self.kind == "3d":  # the mesh, its texture, and four preview renders
            return 10.0 + int(self.params.get("texture") or 2048) ** 2 / 1e6
        return 3.0 + self.duration_s * (self.pixels / 1e6) * 4


def _error(field: str, message: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": message, "type": "value_error"}


def build_spec(kind: str, fields: dict[str, Any]) -> JobSpec:
    """Defaults per kind and every cross-field rule; all problems reported together."""
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}",
            extra={"errors": [_error("kind", f"must be one of {', '.join(KINDS)}")]},
        )
    errors: list[dict[str, Any]] = []
    params: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    _check_format(kind, params, errors)
    pixels = _check_size(kind, params, errors)
    duration = _check_duration(kind, params, errors)
    if kind == "speech":
        duration = _check_speech_text(params, errors)
    _check_voice(kind, params, errors)
    if kind == "render" and not (params.get("scene") or params.get("prompt")):
        errors.append(_error("scene", "a render job needs a scene"))
    _check_samples(kind, params, pixels, errors)
    _check_model_fields(kind, params, errors)
    if kind not in ("music", "video") and "bpm" in params:
        errors.append(_error("bpm", f"{kind} jobs have no tempo"))
    elif "bpm" in params and not 40 <= int(params["bpm"]) <= 240:
        errors.append(_error("bpm", "must be between 40 and 240"))
    if errors:
        fields_named = ", ".join(sorted({".".join(map(str, e["loc"][1:])) for e in errors}))
        raise InvalidInput(f"invalid fields: {fields_named}", extra={"errors": errors})
    return JobSpec(kind, params, params.pop("model", None), pixels, duration)


Errors = list[dict[str, Any]]


def _check_format(kind: str, params: dict[str, Any], errors: Errors) -> None:
    fmt = str(params.get("format") or FORMATS[kind][0]).lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMATS[kind]:
        errors.append(_error("format", f"{kind} jobs produce {', '.join(FORMATS[kind])}"))
    params["format"] = fmt


def _check_size(kind: str, params: dict[str, Any], errors: Errors) -> int:
    """Width and height (defaults per kind); the pixel count (0 for kinds without a size)."""
    if kind not in DEFAULT_SIZE:
        for name in ("width", "height"):
            if name in params:
                errors.append(_error(name, f"{kind} jobs have no {name}"))
        return 0
    width = int(params.get("width") or DEFAULT_SIZE[kind][0])
    height = int(params.get("height") or DEFAULT_SIZE[kind][1])
    for name, value in (("width", width), ("height", height)):
        if not 64 <= value <= MAX_SIDE[kind]:
            errors.append(_error(name, f"must be between 64 and {MAX_SIDE[kind]}"))
        elif value % 8:
            errors.append(_error(name, "must be a multiple of 8"))
    params["width"], params["height"] = width, height
    return width * height


def _check_duration(kind: str, params: dict[str, Any], errors: Errors) -> float:
    if kind in ("music", "video"):
        duration = float(params.get("duration_s") or DEFAULT_DURATION_S[kind])
        if not 0.5 <= duration <= MAX_DURATION_S[kind]:
            errors.append(_error("duration_s", f"must be between 0.5 and {MAX_DURATION_S[kind]:g}"))
        params["duration_s"] = duration
        return duration
    if "duration_s" in params and kind != "speech":
        errors.append(_error("duration_s", f"{kind} jobs have no duration"))
    return 0.0


def _check_speech_text(params: dict[str, Any], errors: Errors) -> float:
    """The text to say; the duration it bounds (~15 characters a second at espeak's default
    speed, which a worker's result is checked against)."""
    text = str(params.get("text") or params.get("prompt") or "")
    if not text.strip():
        errors.append(_error("prompt", "speech needs the text to say (prompt or text)"))
    if len(text) > MAX_TEXT:
        errors.append(_error("text", f"must be at most {MAX_TEXT} characters"))
    params["text"] = text
    params.pop("duration_s", None)
    return max(1.0, len(text) / 12)


def _check_voice(kind: str, params: dict[str, Any], errors: Errors) -> None:
    if "voice" not in params:
        return
    if kind not in ("speech", "video"):
        errors.append(_error("voice", f"{kind} jobs have no voice"))
        return
    params["voice"] = str(params["voice"]).lower()
    problem = voice_problem(params["voice"])
    if problem:
        errors.append(_error("voice", problem))


def _check_model_fields(kind: str, params: dict[str, Any], errors: Errors) -> None:
    """A 3D job's prompt, texture side and mesh detail; no other kind has them."""
    if kind != "3d":
        for name in ("texture", "detail", "image"):
            if name in params:
                errors.append(_error(name, f"{kind} jobs have no {name}"))
        return
    if not str(params.get("prompt") or "").strip():
        errors.append(_error("prompt", "a 3D job needs a prompt"))
    texture = int(params.setdefault("texture", 2048))
    if texture not in TEXTURE_SIDES:
        errors.append(_error("texture", f"must be one of {', '.join(map(str, TEXTURE_SIDES))}"))
    detail = int(params.setdefault("detail", 48))
    if not 8 <= detail <= 256:
        errors.append(_error("detail", "must be between 8 and 256"))
    if "image" in params:
        try:
            decode_picture(str(params["image"]), load=False)
        except JobUnsuitable as exc:
            errors.append(_error("image", str(exc)))


def _check_samples(kind: str, params: dict[str, Any], pixels: int, errors: Errors) -> None:
    """A render's samples per pixel, within what one job may cost (pixels x samples)."""
    if "samples" not in params:
        return
    if kind != "render":
        errors.append(_error("samples", f"{kind} jobs have no samples"))
        return
    samples = int(params["samples"])
    if not 1 <= samples <= MAX_SAMPLES:
        errors.append(_error("samples", f"must be between 1 and {MAX_SAMPLES}"))
    elif pixels * samples > MAX_PIXEL_SAMPLES:
        errors.append(_error("samples", "too many for this size: lower the samples or the size"))
