"""A screenplay as the films domain reads it, whatever it came from (Fountain, PDF, plain
text): a title page and a sequence of typed elements, with its scenes and characters derived.

Texts are plain (emphasis markers and notes removed); `raw` keeps an element's source lines
where a renderer needs the markup. Everything else in the domain (scoring, near-duplicate
checks, shots, voices, subtitles) reads this structure and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ElementType = Literal[
    "scene_heading",
    "action",
    "dialogue",
    "transition",
    "lyrics",
    "section",
    "synopsis",
    "page_break",
    "note",
]


@dataclass(slots=True)
class Line:
    """One line of a dialogue block: spoken, a parenthetical ("(quietly)") or sung."""

    kind: Literal["speech", "parenthetical", "lyric"]
    text: str


@dataclass(slots=True)
class Element:
    type: ElementType
    text: str = ""
    raw: str = ""
    forced: bool = False
    scene_number: str | None = None  # scene headings: "1A" from "#1A#"
    depth: int = 0  # sections: the number of "#"
    centered: bool = False  # action: ">text<"
    character: str | None = None  # dialogue: the speaker, without extension
    extension: str | None = None  # dialogue: "V.O.", "cont'd"…
    lines: list[Line] = field(default_factory=list)  # dialogue
    dual: bool = False  # dialogue: one of two speeches side by side
    notes: list[str] = field(default_factory=list)  # [[notes]] written in this element

    @property
    def speech(self) -> str:
        """A dialogue's spoken words (no parentheticals), as one text."""
        return " ".join(line.text for line in self.lines if line.kind != "parenthetical")


@dataclass(slots=True)
class Scene:
    heading: Element | None  # None: what comes before the first heading
    elements: list[Element]

    @property
    def title(self) -> str:
        return self.heading.text if self.heading else ""


@dataclass(slots=True)
class Screenplay:
    title_page: dict[str, list[str]]  # lower-case keys ("title", "credit", "authors")
    elements: list[Element]
    source_format: Literal["fountain", "pdf", "text"] = "fountain"

    @property
    def title(self) -> str:
        return " ".join(self.title_page.get("title", [])).strip()

    @property
    def authors(self) -> list[str]:
        return self.title_page.get("authors") or self.title_page.get("author") or []

    @property
    def scenes(self) -> list[Scene]:
        scenes: list[Scene] = []
        current = Scene(None, [])
        for element in self.elements:
            if element.type == "scene_heading":
                if current.heading is not None or current.elements:
                    scenes.append(current)
                current = Scene(element, [])
            else:
                current.elements.append(element)
        if current.heading is not None or current.elements:
            scenes.append(current)
        return scenes

    @property
    def characters(self) -> dict[str, int]:
        """Each speaking character and how many speeches they have, most first."""
        counts: dict[str, int] = {}
        for element in self.elements:
            if element.type == "dialogue" and element.character:
                counts[element.character] = counts.get(element.character, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Screenplay:
        """A screenplay as `dataclasses.asdict` stored it (a script's `structure`)."""
        elements = [
            Element(**{**e, "lines": [Line(**line) for line in e.get("lines", [])]})
            for e in stored.get("elements", [])
        ]
        return cls(
            title_page=stored.get("title_page", {}),
            elements=elements,
            source_format=stored.get("source_format", "fountain"),
        )

    def count(self, kind: ElementType) -> int:
        return sum(1 for element in self.elements if element.type == kind)

    def plain_text(self) -> str:
        """The words of the screenplay in reading order (for similarity and search)."""
        parts = [self.title]
        for element in self.elements:
            if element.type == "dialogue":
                parts.append(f"{element.character}: {element.speech}")
            elif element.text:
                parts.append(element.text)
        return "\n".join(parts)
