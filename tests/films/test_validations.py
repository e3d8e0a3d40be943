"""Validators score scripts on the rubric through the API: one validation each (a later or
concurrent one replaces it), never their own script, scores in range; the score route's
means, Bayesian average, calibration and agreement."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from atelier.core.runtime import Runtime
from atelier.films.models import Script, Validation
from atelier.films.scoring import RUBRIC
from tests.films.test_scripts_api import SHORT
from tests.grid.helpers import account_with_key
from tests.helpers import bearer


def _scores(value: int, **changed: int) -> dict[str, int]:
    return {c: changed.get(c, value) for c in RUBRIC}


async def _script(client: httpx.AsyncClient, key: str, title: str) -> str:
    sent = await client.post(
        "/api/scripts", headers=bearer(key), json={"text": SHORT, "title": title}
    )
    assert sent.status_code == 201, sent.text
    return str(sent.json()["id"])


async def test_validators_score_and_the_score_aggregates(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, author = await account_with_key(runtime)
    script = await _script(client, author, "Scored")
    validators = [(await account_with_key(runtime, ["validator"]))[1] for _ in range(3)]
    empty = (await client.get(f"/api/scripts/{script}/score", headers=bearer(author))).json()
    assert empty["validations"] == 0 and empty["note"] == "no validations yet"
    for key, value in zip(validators, (8, 7, 9), strict=True):
        sent = await client.post(
            "/api/validations",
            headers=bearer(key),
            json={
                "script_id": script,
                "scores": _scores(value, dialogue=value - 1),
                "comments": "ok",
            },
        )
        assert sent.status_code == 201, sent.text
    score = (await client.get(f"/api/scripts/{script}/score", headers=bearer(author))).json()
    assert score["validations"] == 3
    assert score["raw_mean"]["story"] == 8.0 and score["raw_mean"]["dialogue"] == 7.0
    assert score["raw_mean"]["overall"] == pytest.approx((8 * 5 + 7) / 6, abs=1e-3)
    assert set(score["bayesian"]) == {*RUBRIC, "overall"}
    assert score["agreement"] is not None and "alpha" in score["note"]

    # a second opinion replaces the first; ten at once still end as one
    first = validators[0]
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/validations",
                headers=bearer(first),
                json={"script_id": script, "scores": _scores(v)},
            )
            for v in range(1, 11)
        )
    )
    assert {a.status_code for a in answers} == {201}
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Validation)
            .where(Validation.script_id == uuid.UUID(script))
        )
    assert count == 3


async def test_discordant_validators_are_said_to_disagree(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, author = await account_with_key(runtime)
    script = await _script(client, author, "Divisive")
    for value in (1, 10, 2, 9):
        key = (await account_with_key(runtime, ["validator"]))[1]
        scores = _scores(value, story=11 - value, structure=(value * 7) % 10 + 1)
        await client.post(
            "/api/validations", headers=bearer(key), json={"script_id": script, "scores": scores}
        )
    score = (await client.get(f"/api/scripts/{script}/score", headers=bearer(author))).json()
    assert "too low to trust" in score["note"]


@pytest.mark.parametrize(
    "scores",
    [
        _scores(0),
        _scores(11),
        {**_scores(5), "story": 7.5},
        {**_scores(5), "story": "7"},
        {**_scores(5), "story": True},
        {c: 5 for c in RUBRIC[1:]},
        {**_scores(5), "vibes": 10},
        {},
    ],
)
async def test_scores_out_of_the_rubric_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, scores: dict[str, Any]
) -> None:
    _, author = await account_with_key(runtime)
    script = await _script(client, author, "Strict")
    key = (await account_with_key(runtime, ["validator"]))[1]
    answer = await client.post(
        "/api/validations", headers=bearer(key), json={"script_id": script, "scores": scores}
    )
    assert answer.status_code == 422, answer.text


async def test_who_may_validate_and_when(client: httpx.AsyncClient, runtime: Runtime) -> None:
    author_id, author = await account_with_key(runtime, ["creator", "validator"])
    script = await _script(client, author, "Mine")
    own = await client.post(
        "/api/validations",
        headers=bearer(author),
        json={"script_id": script, "scores": _scores(10)},
    )
    assert own.status_code == 403 and own.json()["type"] == "/problems/own-script"
    _, creator = await account_with_key(runtime)
    plain = await client.post(
        "/api/validations",
        headers=bearer(creator),
        json={"script_id": script, "scores": _scores(5)},
    )
    assert plain.status_code == 403
    validator = (await account_with_key(runtime, ["validator"]))[1]
    missing = await client.post(
        "/api/validations",
        headers=bearer(validator),
        json={"script_id": str(uuid.uuid4()), "scores": _scores(5)},
    )
    assert missing.status_code == 404
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Script).where(Script.id == uuid.UUID(script)).values(status="selected")
        )
    closed = await client.post(
        "/api/validations",
        headers=bearer(validator),
        json={"script_id": script, "scores": _scores(5)},
    )
    assert closed.status_code == 409 and closed.json()["type"] == "/problems/scoring-closed"
    assert author_id is not None


async def test_an_admin_closes_the_round_by_the_stated_rule(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # earlier tests' scripts are pending too: the rule reads them all
    _, admin = await account_with_key(runtime, ["admin"])
    _, author = await account_with_key(runtime)
    validators = [(await account_with_key(runtime, ["validator"]))[1] for _ in range(3)]
    strong = await _script(client, author, "Strong")
    weak = await _script(client, author, "Weak")
    unreviewed = await _script(client, author, "Unreviewed")
    for key in validators:
        for script, value in ((strong, 9), (weak, 6)):
            await client.post(
                "/api/validations",
                headers=bearer(key),
                json={"script_id": script, "scores": _scores(value)},
            )
    refused = await client.post("/api/rounds", headers=bearer(author), json={"min_validations": 3})
    assert refused.status_code == 403
    none = await client.post("/api/rounds", headers=bearer(admin), json={"min_validations": 99})
    assert none.status_code == 409 and none.json()["type"] == "/problems/no-eligible-script"
    closed = await client.post("/api/rounds", headers=bearer(admin), json={"min_validations": 3})
    assert closed.status_code == 201, closed.text
    record = closed.json()
    assert record["rule"]["min_validations"] == 3 and "calibrated" in record["rule"]["rule"]
    by_id = {c["script_id"]: c for c in record["candidates"]}
    assert by_id[unreviewed]["eligible"] is False and by_id[unreviewed]["validations"] == 0
    eligible = [c for c in record["candidates"] if c["eligible"]]
    best = max(eligible, key=lambda c: (c["calibrated_overall"], c["bayesian_overall"]))
    assert record["selected_script_id"] == best["script_id"]  # recomputed from the record
    assert by_id[strong]["calibrated_overall"] > by_id[weak]["calibrated_overall"]
    statuses = {
        s: (await client.get(f"/api/scripts/{s}", headers=bearer(author))).json()["status"]
        for s in (strong, weak, unreviewed)
    }
    assert statuses[weak] == statuses[unreviewed] == "not_selected"
    assert statuses[strong] in ("selected", "not_selected")  # another test's script may win
    assert (
        await client.get(f"/api/rounds/{record['id']}", headers=bearer(author))
    ).json() == record
    again = await client.post("/api/rounds", headers=bearer(admin), json={"min_validations": 1})
    assert again.status_code == 409  # nothing is pending any more


async def test_a_hidden_script_leaves_the_portal_and_the_round(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Its author still reads it (and why); nobody else, nor its films; no validator scores
    it and a round passes it over, leaving it pending for an appeal."""
    _, admin = await account_with_key(runtime, ["admin"])
    author_id, author = await account_with_key(runtime)
    _, validator = await account_with_key(runtime, ["validator"])
    hidden = await _script(client, author, "Hidden")
    other = await _script(client, author, "Shown")
    for script in (hidden, other):
        sent = await client.post(
            "/api/validations",
            headers=bearer(validator),
            json={"script_id": script, "scores": _scores(9)},
        )
        assert sent.status_code == 201
    case = await client.post(
        "/api/admin/moderation",
        headers=bearer(admin),
        json={"kind": "script", "target_id": hidden, "reason": "plagiarised"},
    )
    assert case.status_code == 201, case.text
    for who in (validator, None):
        seen = await client.get(f"/api/scripts/{hidden}", headers=bearer(who) if who else {})
        assert seen.status_code in (401, 404)
    refused = await client.get(f"/api/scripts/{hidden}", headers=bearer(validator))
    assert refused.json()["type"] == "/problems/script-hidden"
    films = await client.get("/api/movies", params={"script_id": hidden})
    assert films.status_code == 404
    assert (await client.get(f"/api/scripts/{hidden}", headers=bearer(author))).status_code == 200
    listed = (await client.get("/api/scripts", headers=bearer(validator))).json()
    assert hidden not in {s["id"] for s in listed} and other in {s["id"] for s in listed}
    rescored = await client.post(
        "/api/validations",
        headers=bearer(validator),
        json={"script_id": hidden, "scores": _scores(3)},
    )
    assert rescored.status_code == 404
    closed = await client.post("/api/rounds", headers=bearer(admin), json={"min_validations": 1})
    assert closed.status_code == 201, closed.text
    assert hidden not in {c["script_id"] for c in closed.json()["candidates"]}
    async with runtime.sessions() as session:
        assert (await session.get(Script, uuid.UUID(hidden))).status == "pending_validation"  # type: ignore[union-attr]
    mine = (await client.get("/api/moderation/mine", headers=bearer(author))).json()
    assert [c["reason"] for c in mine] == ["plagiarised"]
    assert author_id is not None
