"""Reading a submitted screenplay: its text checked, normalised, hashed, parsed (Fountain,
or plain text laid out like a page) and signed for near-duplicate search. Pure and CPU-bound:
the API runs it in a thread."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from atelier.core.errors import InvalidInput
from atelier.films import fountain, layout, similarity
from atelier.films.screenplay import Screenplay

Format = Literal["fountain", "text", "auto"]
MAX_TITLE = 300


@dataclass(frozen=True)
class Prepared:
    title: str
    source_format: str
    text: str
    play: Screenplay
    content_hash: str
    signature: list[int]
    words: int

    def structure(self) -> dict[str, Any]:
        return dataclasses.asdict(self.play)


def decode(data: bytes) -> str:
    """An uploaded file as text: UTF-8 (with or without a BOM); PDF and binary refused."""
    if data.startswith(b"%PDF"):
        raise InvalidInput(
            "PDF screenplays are not read yet; send the Fountain or plain text",
            slug="unsupported-script-format",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text", slug="not-a-screenplay") from None


def normalise(text: str) -> str:
    """What the hash is of: no BOM, LF line endings, no trailing spaces, no blank edges."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def prepare(text: str, fmt: Format, title: str | None) -> Prepared:
    if "\x00" in text:
        raise InvalidInput("a screenplay holds no NUL characters", slug="not-a-screenplay")
    normal = normalise(text)
    laid_out = fmt == "text" or (fmt == "auto" and layout.looks_laid_out(normal))
    play = layout.from_text(normal) if laid_out else fountain.parse(normal)
    if not any(play.count(kind) for kind in ("scene_heading", "dialogue", "action")):
        raise InvalidInput(
            "no scene, action or dialogue in it: a title page alone is not a screenplay",
            slug="not-a-screenplay",
        )
    chosen = " ".join((title or play.title or "").split())[:MAX_TITLE]
    if not chosen:
        raise InvalidInput(
            "a title: in the title page (Title: …) or as the title field",
            slug="not-a-screenplay",
            extra={"errors": [{"loc": ["body", "title"], "msg": "a title is needed"}]},
        )
    plain = play.plain_text()
    return Prepared(
        title=chosen,
        source_format=play.source_format,
        text=normal,
        play=play,
        content_hash=hashlib.sha256(normal.encode()).hexdigest(),
        signature=similarity.signature(plain),
        words=len(similarity.normalized_words(plain)),
    )
