"""Screenplays for tests and benchmarks, written here: a feature-length Fountain script
generated from a seed (no script is downloaded or copied), with every element Fountain has."""

from __future__ import annotations

import random

PLACES = (
    "KITCHEN",
    "ROOFTOP",
    "POLICE STATION",
    "DINER",
    "CAR",
    "BEACH",
    "HOSPITAL ROOM",
    "WAREHOUSE",
    "FOREST ROAD",
    "APARTMENT",
    "TRAIN PLATFORM",
    "CHURCH",
)
TIMES = ("DAY", "NIGHT", "DAWN", "DUSK", "CONTINUOUS", "LATER")
PEOPLE = (
    "EDWARD",
    "WILL",
    "SANDRA",
    "JOSEPHINE",
    "KARL",
    "JENNY",
    "NORTHER WINSLOW",
    "DR. BENNETT",
    "AMOS",
    "YOUNG EDWARD",
)
WORDS = tuple(
    [
        "the",
        "river",
        "light",
        "old",
        "moves",
        "slowly",
        "across",
        "a",
        "field",
        "of",
        "yellow",
        "daffodils",
        "while",
        "he",
        "waits",
        "for",
        "nothing",
        "in",
        "particular",
        "and",
        "the",
        "wind",
        "keeps",
        "talking",
        "about",
        "home",
        "stories",
        "never",
        "end",
    ]
)
EXTENSIONS = ("V.O.", "O.S.", "CONT'D", "cont'd", "into phone")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    text = " ".join(words)
    if rng.random() < 0.15:
        text = text.replace(words[0], f"*{words[0]}*", 1)
    return text[0].upper() + text[1:] + rng.choice(".!?")


def _speech(rng: random.Random, dual: bool) -> list[str]:
    line = rng.choice(PEOPLE)
    if rng.random() < 0.2:
        line += f" ({rng.choice(EXTENSIONS)})"
    if dual:
        line += " ^"
    out = [line]
    if rng.random() < 0.25:
        out.append(f"({' '.join(rng.choice(WORDS) for _ in range(2))})")
    out += [_sentence(rng, 3, 14) for _ in range(rng.randint(1, 3))]
    return [*out, ""]


def _scene(rng: random.Random, number: int) -> list[str]:
    prefix = rng.choice(("INT.", "EXT.", "INT./EXT.", "I/E", "EST."))
    heading = f"{prefix} {rng.choice(PLACES)} - {rng.choice(TIMES)}"
    if number % 3 == 0:
        heading += f" #{number}#"
    out = [heading, ""]
    for _ in range(rng.randint(1, 3)):
        action = " ".join(_sentence(rng, 6, 16) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.1:
            action += " [[check the light here]]"
        out += [action, ""]
    for speech in range(rng.randint(3, 9)):
        out += _speech(rng, dual=speech > 0 and rng.random() < 0.05)
    if rng.random() < 0.3:
        out += [rng.choice(("CUT TO:", "DISSOLVE TO:", "SMASH CUT TO:")), ""]
    return out


def feature(seed: int = 7, scenes: int = 150, *, boneyard: bool = True) -> str:
    """A feature-length screenplay (about 145 KB at the default size). `boneyard=False`
    leaves out the multi-line boneyard, which jouvence 0.4.2 never finishes parsing."""
    rng = random.Random(seed)
    out = [
        "Title: **THE RIVER KEEPS TALKING**",
        "Credit: written by",
        "Author: A. Test Writer",
        "Draft date: 2026-12-01",
        "Contact:",
        "    Atelier Films",
        "    films@example.org",
        "",
    ]
    for number in range(1, scenes + 1):
        if number % 40 == 1:
            out += [f"# ACT {number // 40 + 1}", "", f"= Act {number // 40 + 1} begins.", ""]
        out += _scene(rng, number)
        if number % 50 == 0:
            out += ["> INTERMISSION <", "", "===", ""]
        if boneyard and number % 60 == 0:
            out += ["/* a scene we cut", "and its lines */", ""]
    out += ["> FADE OUT.", ""]
    return "\n".join(out)
