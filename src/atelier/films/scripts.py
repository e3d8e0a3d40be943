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
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a PDF screenplay with its fonts


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
    """An uploaded text file as text: UTF-8 (with or without a BOM); binary refused."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text", slug="not-a-screenplay") from None


def normalise(text: str) -> str:
    """What the hash is of: no BOM, LF line endings, no trailing spaces, no blank edges."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def prepare(text: str, fmt: Format, title: str | None, *, from_pdf: bool = False) -> Prepared:
    """`text` read as `fmt` (a PDF's laid-out text is read as laid-out text)."""
    if "\x00" in text:
        raise InvalidInput("a screenplay holds no NUL characters", slug="not-a-screenplay")
    normal = normalise(text)
    laid_out = fmt == "text" or (fmt == "auto" and layout.looks_laid_out(normal))
    play = layout.from_text(normal) if laid_out or from_pdf else fountain.parse(normal)
    if from_pdf:
        play.source_format = "pdf"
    if not play.count("scene_heading") and play.count("dialogue") < 2:
        raise InvalidInput(
            "no scene heading and hardly any dialogue: this does not read as a screenplay",
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
