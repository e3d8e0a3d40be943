"""Screenplays: submitted (flagged when they repeat or nearly repeat another), listed, read."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.errors import Conflict, Forbidden, NotFound
from atelier.films import repository as repo
from atelier.films import scoring, similarity
from atelier.films.models import Script, ScriptStatus, Selection, Validation
from atelier.films.scripts import Prepared
from atelier.identity.principal import Principal
from atelier.moderation import service as moderation


async def submit(session: AsyncSession, author_id: uuid.UUID, prepared: Prepared) -> Script:
    """Store a prepared screenplay, status pending validation; the same text as an earlier
    script is flagged `duplicate_of` it, a near copy `similar_to` it with its similarity."""
    duplicate = await repo.first_with_hash(session, prepared.content_hash)
    similar_to, similarity_score = None, None
    if duplicate is None:
        known = await repo.signatures(session)
        if known:
            scores = similarity.similarities(prepared.signature, [s for _, s in known])
            best = int(scores.argmax())
            if scores[best] >= similarity.NEAR_DUPLICATE:
                similar_to, similarity_score = known[best][0], float(scores[best])
    play = prepared.play
    return await repo.add(
        session,
        Script(
            author_id=author_id,
            title=prepared.title,
            source_format=prepared.source_format,
            text=prepared.text,
            structure=prepared.structure(),
            content_hash=prepared.content_hash,
            signature=prepared.signature,
            scenes=play.count("scene_heading"),
            speeches=play.count("dialogue"),
            words=prepared.words,
            duplicate_of=duplicate.id if duplicate else None,
            similar_to=similar_to,
            similarity=similarity_score,
        ),
    )


async def get(session: AsyncSession, script_id: uuid.UUID, viewer: Principal | None) -> Script:
    """A script as `viewer` may see it: one the moderators hid is 404 `script-hidden` to
    all but its author (who is told why) and admins."""
    found = await repo.script(session, script_id)
    if found is None:
        raise NotFound("no such script", slug="script-not-found")
    may_see = viewer is not None and (viewer.user_id == found.author_id or viewer.has_role("admin"))
    await moderation.refuse_if_hidden(session, "script", str(found.id), may_see=may_see)
    return found


async def author_of(session: AsyncSession, script_id: uuid.UUID) -> uuid.UUID | None:
    """Whose script it is (a moderator's case tells them why it was hidden)."""
    found = await repo.script(session, script_id)
    return found.author_id if found is not None else None


async def page(
    session: AsyncSession, limit: int, before: datetime | None, status: str | None
) -> list[Script]:
    """A page of scripts, newest first, without those the moderators hid."""
    hidden = {uuid.UUID(h) for h in await moderation.all_hidden(session, "script")}
    return await repo.page(session, limit=limit, before=before, status=status, hidden=hidden)


@dataclass(frozen=True)
class Score:
    """A script's scores as `GET /api/scripts/{id}/score` answers them."""

    validations: int
    raw: dict[str, float]
    bayesian: dict[str, float]
    calibrated: dict[str, float]
    alpha: float | None
    note: str


async def validate(
    session: AsyncSession,
    validator_id: uuid.UUID,
    script_id: uuid.UUID,
    scores: dict[str, int],
    comments: str,
) -> Validation:
    """A validator's scores of a script (a later one replaces theirs) while it is open for
    scoring; an author does not validate their own script."""
    script = await repo.lock_script(session, script_id)
    if script is None:
        raise NotFound("no such script", slug="script-not-found")
    if script.author_id == validator_id:
        raise Forbidden("an author does not validate their own script", slug="own-script")
    if script.status != ScriptStatus.PENDING_VALIDATION:
        raise Conflict(f"scoring of this script is closed ({script.status})", slug="scoring-closed")
    await moderation.refuse_if_hidden(session, "script", str(script.id), may_see=False)
    return await repo.upsert_validation(session, script_id, validator_id, scores, comments)


def _ratings(
    rows: list[tuple[uuid.UUID, uuid.UUID, dict[str, int]]],
) -> tuple[scoring.Ratings, dict[uuid.UUID, int], dict[uuid.UUID, int]]:
    scripts: dict[uuid.UUID, int] = {}
    validators: dict[uuid.UUID, int] = {}
    s_index, v_index, values = [], [], []
    for script_id, validator_id, scores in rows:
        s_index.append(scripts.setdefault(script_id, len(scripts)))
        v_index.append(validators.setdefault(validator_id, len(validators)))
        values.append([float(scores[c]) for c in scoring.RUBRIC])
    ratings = scoring.Ratings(
        np.asarray(s_index, dtype=np.int64),
        np.asarray(v_index, dtype=np.int64),
        np.asarray(values, dtype=np.float64).reshape(-1, len(scoring.RUBRIC)),
        len(scripts),
        len(validators),
    )
    return ratings, scripts, validators


def _named(row: NDArray[np.float64]) -> dict[str, float]:
    named = {c: round(float(v), 3) for c, v in zip(scoring.RUBRIC, row, strict=True)}
    named["overall"] = round(float(np.mean(row)), 3)
    return named


async def _aggregate(
    session: AsyncSession,
) -> tuple[
    list[tuple[uuid.UUID, uuid.UUID, dict[str, int]]], scoring.Aggregate, dict[uuid.UUID, int]
]:
    rows = await repo.all_ratings(session)
    ratings, scripts, _ = _ratings(rows)
    return rows, scoring.aggregate(ratings), scripts


async def score(session: AsyncSession, script_id: uuid.UUID, viewer: Principal | None) -> Score:
    await get(session, script_id, viewer)
    rows, result, scripts = await _aggregate(session)
    mine = [scores for s, _, scores in rows if s == script_id]
    if not mine:
        empty = {c: 0.0 for c in (*scoring.RUBRIC, "overall")}
        return Score(0, empty, empty, empty, None, "no validations yet")
    index = scripts[script_id]
    alpha = scoring.alpha_ordinal([[float(v[c]) for c in scoring.RUBRIC] for v in mine])
    if alpha is None:
        note = "agreement cannot be measured: fewer than two validations, or no variation"
    elif alpha < scoring.TRUST_ALPHA:
        note = f"agreement is too low to trust (alpha {alpha:.2f} < {scoring.TRUST_ALPHA})"
    else:
        note = f"validators agree (alpha {alpha:.2f})"
    return Score(
        len(mine),
        _named(result.raw[index]),
        _named(result.bayesian[index]),
        _named(result.calibrated[index]),
        alpha,
        note,
    )


SELECTION_RULE = (
    "among scripts pending validation with at least `min_validations` validations, the "
    "highest calibrated overall score; ties to the higher Bayesian overall, then more "
    "validations, then the earlier submission"
)


@dataclass(frozen=True)
class Candidate:
    """A script as a round's rule read it (kept in the round's record)."""

    script_id: str
    title: str
    submitted_at: str
    validations: int
    calibrated_overall: float | None
    bayesian_overall: float | None
    eligible: bool

    def rank(self) -> tuple[float, float, int, str, str]:
        return (
            -(self.calibrated_overall or 0.0),
            -(self.bayesian_overall or 0.0),
            -self.validations,
            self.submitted_at,
            self.script_id,
        )


def _candidate(
    script: Script, result: scoring.Aggregate, index: dict[uuid.UUID, int], minimum: int
) -> Candidate:
    at = index.get(script.id)
    count = int(result.counts[at]) if at is not None else 0
    return Candidate(
        script_id=str(script.id),
        title=script.title,
        submitted_at=script.created_at.isoformat(),
        validations=count,
        calibrated_overall=round(float(result.calibrated[at].mean()), 6)
        if at is not None
        else None,
        bayesian_overall=round(float(result.bayesian[at].mean()), 6) if at is not None else None,
        eligible=count >= minimum,
    )


async def close_round(
    session: AsyncSession, closed_by: uuid.UUID, min_validations: int
) -> Selection:
    """Close scoring: the rule picks one script (`selected`); every other pending script is
    `not_selected`. The record keeps every candidate's figures. Nothing changes when no
    script is eligible. A script the moderators hid is no candidate and stays pending (an
    appeal may restore it for the next round)."""
    hidden = {uuid.UUID(h) for h in await moderation.all_hidden(session, "script")}
    pending = [s for s in await repo.pending_scripts(session) if s.id not in hidden]
    _, result, index = await _aggregate(session)
    candidates = [_candidate(script, result, index, min_validations) for script in pending]
    eligible = [c for c in candidates if c.eligible]
    if not eligible:
        raise Conflict(
            f"no script pending validation has {min_validations} validations yet",
            slug="no-eligible-script",
        )
    winner = min(eligible, key=Candidate.rank)
    for script in pending:
        chosen = str(script.id) == winner.script_id
        script.status = ScriptStatus.SELECTED if chosen else ScriptStatus.NOT_SELECTED
    return await repo.add_selection(
        session,
        Selection(
            closed_by=closed_by,
            rule={"min_validations": min_validations, "rule": SELECTION_RULE},
            candidates=[dataclasses.asdict(c) for c in candidates],
            selected_script_id=uuid.UUID(winner.script_id),
        ),
    )


async def get_selection(session: AsyncSession, selection_id: uuid.UUID) -> Selection:
    found = await repo.selection(session, selection_id)
    if found is None:
        raise NotFound("no such round", slug="round-not-found")
    return found
