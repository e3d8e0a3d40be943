"""A film's plan, before anything runs: the screenplay turned into grid jobs, and what they
will cost. Pure: the same screenplay and options give the same plan.

- Shots: each action paragraph of a scene is a shot (an image; a clip when `video`), its
  prompt the scene's setting and time of day with the action; a scene with no action gets
  one establishing shot from its heading.
- Character consistency: each character has a seed derived from the film's title and the
  name; a shot showing a character (named in capitals in its action, or speaking in the
  scene) uses the first such character's seed, so every shot they appear in starts from
  the same noise; otherwise the scene's seed.
- Voices: each speaking character keeps one espeak-ng voice for the whole film (chosen from
  the name, stable across plans).
- Music: one cue per scene, its mood from the time of day and the action's words, as long
  as the scene's shots and lines.
- Cost: every job is built with the grid's own spec (`grid.specs.build_spec`), so the
  compute seconds are the grid's estimate of the very jobs that will be submitted.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from atelier.films.screenplay import Screenplay
from atelier.grid.specs import build_spec

VOICES = ("en-us+m3", "en-us+f2", "en-gb+m1", "en-gb+f3", "en-us+m7", "en-us+f4", "en-gb+m5")
WORDS_PER_SECOND = 2.5  # speech at 150 words a minute
_CAPITALISED = re.compile(r"\b[A-Z][A-Z'.-]{1,}(?: [A-Z][A-Z'.-]{1,})*\b")
_MOODS = (
    (("gun", "chase", "runs", "scream", "explodes", "fight", "blood"), "tense, driving"),
    (("rain", "grave", "cries", "alone", "funeral", "tears"), "melancholic, slow"),
    (("laughs", "party", "dance", "kiss", "smiles", "sun"), "warm, upbeat"),
)


@dataclass(frozen=True)
class PlanOptions:
    width: int = 768
    height: int = 432
    shot_seconds: float = 4.0
    video: bool = False  # clips instead of stills for the shots


@dataclass(frozen=True)
class Job:
    """One grid job of the film: its kind and the fields a creator would submit."""

    kind: str
    fields: dict[str, Any]
    scene: int
    estimate_s: float
    character: str | None = None
    # the shot (its index in `Plan.shots`) the job is seen or heard over: a shot's own
    # index; a line's, the latest shot of its scene before it (the scene's first shot for
    # lines before any action); a music cue spans its scene and has none
    shot: int | None = None


@dataclass
class Plan:
    title: str
    shots: list[Job] = field(default_factory=list)
    lines: list[Job] = field(default_factory=list)
    music: list[Job] = field(default_factory=list)
    seeds: dict[str, int] = field(default_factory=dict)
    voices: dict[str, str] = field(default_factory=dict)

    @property
    def jobs(self) -> list[Job]:
        return [*self.shots, *self.lines, *self.music]

    @property
    def jobs_by_kind(self) -> dict[str, int]:
        return dict(Counter(job.kind for job in self.jobs))

    @property
    def compute_seconds(self) -> float:
        return round(sum(job.estimate_s for job in self.jobs), 3)


def _seed(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _setting(heading: str) -> tuple[str, str]:
    """(place, time of day) of a scene heading ("INT. DINER - NIGHT")."""
    body = re.sub(r"^(?:int\.?/ext|int|ext|est|i/e)[. ]\s*", "", heading, flags=re.I)
    place, _, time = body.partition(" - ")
    return place.strip().title() or "A place", time.strip().lower()


def _mood(time: str, words: str) -> str:
    lowered = words.lower()
    for keys, mood in _MOODS:
        if any(key in lowered for key in keys):
            return mood
    return "dark, ambient" if "night" in time else "light, ambient"


def _job(
    kind: str, fields: dict[str, Any], scene: int, character: str | None, shot: int | None
) -> Job:
    spec = build_spec(kind, dict(fields))
    return Job(kind, fields, scene, spec.estimate_s(), character, shot)


def plan(play: Screenplay, options: PlanOptions = PlanOptions()) -> Plan:
    result = Plan(play.title or "Untitled")
    speakers = list(play.characters)
    for name in speakers:
        result.seeds[name] = _seed(result.title, name)
        result.voices[name] = VOICES[_seed(name) % len(VOICES)]
    for number, scene in enumerate(play.scenes):
        place, time = _setting(scene.title)
        in_scene = [e.character for e in scene.elements if e.type == "dialogue" and e.character]
        actions = [e.text for e in scene.elements if e.type == "action" and e.text.strip()]
        if scene.heading is None and not actions and not in_scene:
            continue  # sections and synopses before the first scene: nothing to film
        first_shot = len(result.shots)
        for text in actions or [scene.title or place]:
            named = [n for n in _CAPITALISED.findall(text) if n in result.seeds]
            who = (named or in_scene or [None])[0]
            seed = result.seeds[who] if who else _seed(result.title, str(number))
            prompt = f"{place}, {time or 'day'}: {' '.join(text.split())}"[:500]
            fields: dict[str, Any] = {
                "kind": "video" if options.video else "image",
                "prompt": prompt,
                "seed": seed,
                "width": options.width,
                "height": options.height,
            }
            if options.video:
                fields["duration_s"] = options.shot_seconds
            kind = str(fields.pop("kind"))
            result.shots.append(_job(kind, fields, number, who, len(result.shots)))
        seconds = len(actions or [1]) * options.shot_seconds
        shown, seen = first_shot, 0
        for element in scene.elements:
            if element.type == "action" and element.text.strip():
                shown, seen = first_shot + seen, seen + 1
            if element.type == "dialogue" and element.character and element.speech.strip():
                text = element.speech[:2000]
                seconds += len(text.split()) / WORDS_PER_SECOND
                voice = {"prompt": text, "voice": result.voices[element.character]}
                result.lines.append(_job("speech", voice, number, element.character, shown))
        cue = {
            "prompt": f"{_mood(time, ' '.join(actions))} score for {place.lower()}",
            "duration_s": round(min(300.0, max(4.0, seconds)), 1),
        }
        result.music.append(_job("music", cue, number, None, None))
    return result
