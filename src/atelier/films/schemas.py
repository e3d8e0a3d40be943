"""The scripts routes' bodies and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from atelier.core.schemas import Body

if TYPE_CHECKING:
    from atelier.films.models import Script


class ScriptIn(Body):
    text: str = Field(min_length=1, description="the screenplay: Fountain, or laid-out text")
    title: str | None = Field(default=None, max_length=300, description="else the title page's")
    format: Literal["fountain", "text", "auto"] = Field(
        default="auto", description="auto: laid-out text when it is indented like a page"
    )


class ScriptOut(BaseModel):
    id: uuid.UUID
    title: str
    author_id: uuid.UUID
    status: str
    source_format: str
    content_hash: str = Field(description="sha256 of the normalised text")
    scenes: int
    speeches: int
    words: int
    duplicate_of: uuid.UUID | None = Field(description="an earlier script with the same text")
    similar_to: uuid.UUID | None = Field(description="the closest earlier script, if near")
    similarity: float | None = Field(description="estimated Jaccard of word 5-grams (0-1)")
    created_at: datetime

    @classmethod
    def of(cls, script: Script) -> ScriptOut:
        return cls(
            id=script.id,
            title=script.title,
            author_id=script.author_id,
            status=script.status,
            source_format=script.source_format,
            content_hash=script.content_hash,
            scenes=script.scenes,
            speeches=script.speeches,
            words=script.words,
            duplicate_of=script.duplicate_of,
            similar_to=script.similar_to,
            similarity=script.similarity,
            created_at=script.created_at,
        )


class ScriptDetailOut(ScriptOut):
    structure: dict[str, Any] = Field(
        description="the parsed screenplay: title_page, and elements (scene_heading, action, "
        "dialogue with character, extension and lines, transition, …)"
    )
    characters: dict[str, int] = Field(description="speaking characters and their speeches")

    @classmethod
    def of(cls, script: Script) -> ScriptDetailOut:
        counts: dict[str, int] = {}
        for element in script.structure.get("elements", []):
            if element.get("type") == "dialogue" and element.get("character"):
                counts[element["character"]] = counts.get(element["character"], 0) + 1
        ordered = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
        return cls(
            **ScriptOut.of(script).model_dump(), structure=script.structure, characters=ordered
        )
