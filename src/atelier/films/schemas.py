"""The scripts and movies routes' bodies and answers."""

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
    from atelier.films.movies import MovieView
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


class MovieOptions(Body):
    """How the film is made. The defaults make a 768x432 film of stills, 4 s per shot."""

    video: bool = Field(default=False, description="a video clip per shot instead of a still")
    width: int = Field(default=768, ge=64, le=1920, multiple_of=8)
    height: int = Field(default=432, ge=64, le=1080, multiple_of=8)
    shot_seconds: float = Field(default=4.0, ge=1.0, le=30.0)
    crossfade_s: float = Field(
        default=0.0, ge=0.0, le=2.0, description="a crossfade at each scene boundary (0: cuts)"
    )


class MovieIn(Body):
    script_id: uuid.UUID
    options: MovieOptions = Field(default_factory=MovieOptions)
    confirm: bool = Field(
        default=False,
        description="false: plan and cost only; true: also start (POST /api/movies/{id}/start "
        "starts an estimate later)",
    )


class ProgressIn(Body):
    progress: float = Field(ge=0, le=100, description="percent done (never goes back)")
    stage: str = Field(min_length=1, max_length=200, description="what is being done")


class MovieOut(BaseModel):
    id: uuid.UUID
    script_id: uuid.UUID
    title: str
    status: str = Field(
        description="estimated | generating | assembling | signing | completed | failed"
    )
    progress: float = Field(description="percent, 0-100")
    stage: str | None
    error: str | None
    options: dict[str, Any]
    jobs_by_kind: dict[str, int] = Field(description="the plan: grid jobs per kind")
    compute_seconds: float = Field(description="the grid's estimate of the plan's compute")
    eta_s: float | None = Field(description="when costed: the grid's ETA (null: no worker)")
    jobs: dict[str, dict[str, int]] = Field(description="per kind: jobs in each state")
    reused: int = Field(description="jobs whose result an earlier film had already made")
    steps: dict[str, str] = Field(description="the film's flow: each step's state")
    duration_s: float | None
    video_url: str | None
    poster_url: str | None
    subtitles: dict[str, str] = Field(description="srt and vtt URLs, once made")
    artifact_id: uuid.UUID | None = Field(description="the film as a grid artifact")
    cid: str | None = Field(description="the signed film's CID")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, view: MovieView) -> MovieOut:
        movie = view.movie
        base = f"/api/movies/{movie.id}"
        made = movie.vtt_key is not None
        return cls(
            id=movie.id,
            script_id=movie.script_id,
            title=movie.title,
            status=view.status,
            progress=round(view.progress, 1),
            stage=movie.stage,
            error=movie.error,
            options=movie.options,
            jobs_by_kind=movie.jobs_by_kind,
            compute_seconds=movie.compute_seconds,
            eta_s=movie.eta_s,
            jobs=view.jobs,
            reused=view.reused,
            steps=view.steps,
            duration_s=movie.duration_s,
            video_url=f"{base}/video" if view.status == "completed" else None,
            poster_url=f"{base}/poster.jpg" if movie.poster_key else None,
            subtitles={"srt": f"{base}/subtitles.srt", "vtt": f"{base}/subtitles.vtt"}
            if made
            else {},
            artifact_id=movie.artifact_id,
            cid=view.cid,
            created_at=movie.created_at,
            started_at=movie.started_at,
            finished_at=movie.finished_at,
        )
