"""Screenplays laid out on a page (PDF, or plain text formatted like one) back into their
structure, from where each line starts and whether it is in capitals.

A screenplay's format is positional: action and scene headings at the left margin, dialogue
indented about an inch, parentheticals a little further, character names further still,
transitions to the right. The absolute positions depend on the tool that rendered the page,
so lines are classified by their indents *relative to each other*: a cue is a line in
capitals followed, without a gap, by a line indented less than it but more than the left
margin (its speech); a heading starts at the margin with INT/EXT; a transition ends in
"TO:". The result is written out as Fountain, every element forced, and parsed by the one
parser, so every format ends in the same structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from atelier.films import fountain
from atelier.films.screenplay import Screenplay

_HEADING = re.compile(r"^(?:int\.?/ext|int|ext|est|i/e)[. ]", re.I)
_PAGE_NOISE = re.compile(r"^(?:\d+\.?|\(?(?:more|continued)\)?|continued:|\(cont'?d\))$", re.I)


@dataclass(frozen=True)
class PlacedLine:
    """A line of text where it starts on its page (points, or characters for text)."""

    indent: float
    text: str
    gap_before: bool = False  # a blank line (or a larger vertical gap) before it


def _capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _is_cue(lines: list[PlacedLine], index: int, margin: float) -> bool:
    """A character cue: a line in capitals, indented, directly followed (no gap) by a line
    indented less than it but more than the margin: its speech or parenthetical."""
    line = lines[index]
    text = line.text.strip()
    if index + 1 >= len(lines) or line.indent <= margin or len(text) > 60:
        return False
    after = lines[index + 1]
    return (
        _capitals(text)
        and not text.endswith(("TO:", "."))
        and not after.gap_before
        and margin < after.indent < line.indent
    )


def to_fountain(lines: list[PlacedLine]) -> str:
    """The lines as a Fountain document (see the module's docstring): every element written
    in its forced form, so Fountain's blank-line rules cannot read it another way."""
    kept = [
        line for line in lines if line.text.strip() and not _PAGE_NOISE.match(line.text.strip())
    ]
    if not kept:
        return ""
    margin = min(line.indent for line in kept)
    out: list[str] = []
    speech_indent: float | None = None  # inside a speech: its cue's indent
    for index, line in enumerate(kept):
        text = line.text.strip()
        cue = _is_cue(kept, index, margin)
        if speech_indent is not None and not line.gap_before and margin < line.indent and not cue:
            out.append(text)
            continue
        speech_indent = None
        if cue:
            out += ["", f"@{text}"]
            speech_indent = line.indent
        elif _capitals(text) and text.endswith(("TO:", "FADE OUT.", "FADE TO BLACK.")):
            out += ["", f"> {text}", ""]
        elif line.indent - margin < 4 and _HEADING.match(text) and _capitals(text):
            out += ["", f".{text}", ""]
        elif line.gap_before or not out or not out[-1]:
            out += ["", f"!{text}"]
        else:
            out.append(text)
    return "\n".join(out).strip("\n") + "\n"


def from_text(text: str) -> Screenplay:
    """A plain-text screenplay laid out with spaces (tabs count as eight)."""
    placed = []
    gap = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        expanded = raw.expandtabs(8)
        if not expanded.strip():
            gap = True
            continue
        placed.append(PlacedLine(len(expanded) - len(expanded.lstrip(" ")), expanded.strip(), gap))
        gap = False
    play = fountain.parse(to_fountain(placed))
    play.source_format = "text"
    return play


def looks_laid_out(text: str) -> bool:
    """Whether plain text uses indentation the way a formatted screenplay does (some lines
    in capitals indented well beyond others), rather than Fountain's blank-line rules."""
    indents = []
    for raw in text.splitlines()[:2000]:
        expanded = raw.expandtabs(8)
        if expanded.strip():
            indents.append((len(expanded) - len(expanded.lstrip(" ")), expanded.strip()))
    if not indents:
        return False
    margin = min(i for i, _ in indents)
    cues = sum(1 for i, t in indents if i - margin >= 15 and _capitals(t))
    return cues >= 3
