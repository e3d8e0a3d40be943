"""A short screenplay from a logline, without a language model: the logline's own clauses
become its scenes (the world, the turn, the end), each said by a narrator over its shot. It
invents nothing: an outline to rewrite on the portal, and filmable as it stands (the AI
studio's short-film template)."""

from __future__ import annotations

import re

MAX_LOGLINE = 500
TIMES = ("DAY", "NIGHT", "DAWN")
# Where a logline's clauses part: punctuation, and the words that turn a story.
_CLAUSE = re.compile(r"\s*(?:[,;:\u2013\u2014]|\b(?:when|but|until|before|after|then)\b)\s*", re.I)
# "in a small harbour town", "at the edge": up to three words after a place preposition.
_PLACE = re.compile(
    r"\b(?:in|at|on|inside|under|across|beneath)\s+(?:the\s+|a\s+|an\s+)?"
    r"([a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2})",
    re.I,
)
_STOP = {"who", "that", "which", "where", "and", "or", "with", "to", "of", "is", "are"}
_NOT_PLACES = {"love", "time", "trouble", "danger", "debt", "secret", "search", "hope", "vain"}
_PREPOSITIONS = {"in", "at", "on", "inside", "under", "across", "beneath", *_STOP}


def beats(logline: str) -> list[str]:
    """The logline in at most three parts: its first clause, the middle ones, its last."""
    clauses = [c.strip(" .!?\"'") for c in _CLAUSE.split(" ".join(logline.split()))]
    clauses = [c for c in clauses if c]
    if len(clauses) <= 3:
        return clauses
    return [clauses[0], ", ".join(clauses[1:-1]), clauses[-1]]


def place_of(logline: str) -> str:
    """The setting a scene heading names: the words after the logline's first `in`, `at`,
    `on`… (up to a relative word), else a city."""
    found = _PLACE.search(logline)
    if found is None:
        return "THE CITY"
    words: list[str] = []
    for word in found.group(1).split():
        if word.lower() in _STOP:
            break
        words.append(word)
    if not words or " ".join(words).lower() in _NOT_PLACES:
        return "THE CITY"
    return " ".join(words).upper()


def title_of(logline: str) -> str:
    """Its subject: the first clause's words up to a place or a relative word (six at most)."""
    found = beats(logline)
    words: list[str] = []
    for word in (found[0] if found else "Untitled").split()[:6]:
        if words and word.lower() in _PREPOSITIONS:
            break
        words.append(word)
    return " ".join(words).title()


def screenplay(logline: str, title: str | None = None) -> str:
    """Fountain text: a title page, then a scene per beat with the beat as its action (forced
    with `!`, so a shouted logline stays action) and a narrator saying it."""
    text = " ".join(logline.split())[:MAX_LOGLINE]
    parts = beats(text)
    if not parts:
        raise ValueError("a logline is needed: one or two sentences of what happens")
    place = place_of(text)
    lines = [f"Title: {' '.join((title or title_of(text)).split())}", "Credit: from a logline", ""]
    for number, beat in enumerate(parts):
        sentence = beat[0].upper() + beat[1:] + "."
        lines += [f"EXT. {place} - {TIMES[number % len(TIMES)]}", "", f"!{sentence}", ""]
        lines += ["NARRATOR", sentence, ""]
    return "\n".join(lines)
