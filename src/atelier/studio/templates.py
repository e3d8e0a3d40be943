"""Prompt text with `{variables}`, and the studio's ready-made agent templates."""

from __future__ import annotations

import re
from dataclasses import dataclass

VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]{0,39})\}")
MAX_PROMPT = 1000
FILM = "film"  # a template of this kind films a screenplay instead of generating n jobs


def variables_in(text: str) -> list[str]:
    """The `{names}` a prompt's text uses, in order of first use."""
    return list(dict.fromkeys(VARIABLE.findall(text)))


def fill(text: str, values: dict[str, str], defaults: dict[str, str]) -> tuple[str, list[str]]:
    """The text with its variables replaced (a value given, else the default); and the
    names that have neither (the caller refuses those)."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name) or defaults.get(name) or ""
        if not value:
            missing.append(name)
        return value

    return VARIABLE.sub(one, text)[:MAX_PROMPT], list(dict.fromkeys(missing))


@dataclass(frozen=True)
class Template:
    """An agent's recipe: generate `n` of `kind`, rank them, keep the best `keep`, draft
    them as a collection, and cast about it."""

    name: str
    title: str
    kind: str
    n: int
    keep: int
    description: str


TEMPLATES = {
    t.name: t
    for t in (
        Template(
            "variations",
            "A collection of variations",
            "image",
            6,
            3,
            "Six images of one prompt; the three most original and best made become a "
            "collection draft.",
        ),
        Template(
            "music-pack",
            "A music pack",
            "music",
            4,
            4,
            "Four tracks in one style, ranked, drafted as a collection of sounds.",
        ),
        Template(
            "short-film",
            "A short film from a logline",
            FILM,
            1,
            1,
            "Your logline (the prompt) becomes a screenplay, a scene per turn of it said by a "
            "narrator, submitted to the films portal; an admin's agent films it at once and "
            "drafts the film, others film it once a round selects the script.",
        ),
    )
}
