"""The scripts routes' bodies and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, StrictInt, field_validator

from atelier.core.schemas import Body
from atelier.films.scoring import PRIOR_WEIGHT, RUBRIC
from atelier.films.screenplay import Screenplay

if TYPE_CHECKING:
    from atelier.films.models import Script, Selection, Validation
    from atelier.films.service import Score


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
        characters = Screenplay.from_dict(script.structure).characters
        return cls(
            **ScriptOut.of(script).model_dump(), structure=script.structure, characters=characters
        )


class ValidationIn(Body):
    script_id: uuid.UUID
    scores: dict[str, StrictInt] = Field(description=f"each of {', '.join(RUBRIC)}: 1 to 10")
    comments: str = Field(default="", max_length=5000)

    @field_validator("scores")
    @classmethod
    def _rubric(cls, scores: dict[str, int]) -> dict[str, int]:
        missing, unknown = set(RUBRIC) - set(scores), set(scores) - set(RUBRIC)
        if missing or unknown:
            raise ValueError(
                f"score exactly {', '.join(RUBRIC)}"
                + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                + (f"; unknown {', '.join(sorted(unknown))[:200]}" if unknown else "")
            )
        out_of_range = [c for c, v in scores.items() if isinstance(v, bool) or not 1 <= v <= 10]
        if out_of_range:
            raise ValueError(f"scores are whole numbers from 1 to 10: {', '.join(out_of_range)}")
        return scores


class ValidationOut(BaseModel):
    id: uuid.UUID
    script_id: uuid.UUID
    validator_id: uuid.UUID
    scores: dict[str, int]
    comments: str
    updated_at: datetime

    @classmethod
    def of(cls, validation: Validation) -> ValidationOut:
        return cls(
            id=validation.id,
            script_id=validation.script_id,
            validator_id=validation.validator_id,
            scores=validation.scores,
            comments=validation.comments,
            updated_at=validation.updated_at,
        )


class ScoreOut(BaseModel):
    script_id: uuid.UUID
    validations: int
    raw_mean: dict[str, float] = Field(description="per criterion and overall")
    bayesian: dict[str, float] = Field(
        description=f"shrunk towards the mean of all validations by {PRIOR_WEIGHT:g} "
        "pseudo-validations"
    )
    calibrated: dict[str, float] = Field(description="less each validator's estimated bias")
    agreement: float | None = Field(
        description="Krippendorff's alpha (ordinal) over the criteria and validators"
    )
    note: str

    @classmethod
    def of(cls, script_id: uuid.UUID, score: Score) -> ScoreOut:
        return cls(
            script_id=script_id,
            validations=score.validations,
            raw_mean=score.raw,
            bayesian=score.bayesian,
            calibrated=score.calibrated,
            agreement=None if score.alpha is None else round(score.alpha, 4),
            note=score.note,
        )


class RoundIn(Body):
    min_validations: int = Field(default=3, ge=1, le=1000)


class RoundOut(BaseModel):
    id: uuid.UUID
    rule: dict[str, Any] = Field(description="the rule applied, and its parameters")
    candidates: list[dict[str, Any]] = Field(description="every candidate's figures")
    selected_script_id: uuid.UUID
    closed_at: datetime

    @classmethod
    def of(cls, selection: Selection) -> RoundOut:
        return cls(
            id=selection.id,
            rule=selection.rule,
            candidates=selection.candidates,
            selected_script_id=selection.selected_script_id,
            closed_at=selection.closed_at,
        )
