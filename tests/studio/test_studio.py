"""The AI studio: a prompt library with versions and variables, and an agent that
generates on the grid, ranks, drafts a collection; a step that fails resumes there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import func, select

from atelier.core.runtime import Runtime
from atelier.grid.models import GenerationRequest
from tests.grid.helpers import account_with_key, worker_loop
from tests.helpers import bearer, drain_tasks


async def test_prompts_keep_versions_and_fill_variables(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    saved = await client.post(
        "/api/studio/prompts",
        headers=bearer(key),
        json={
            "name": "fox",
            "text": "a {animal} at {time}, ink",
            "tags": ["Animals", "ink"],
            "defaults": {"time": "dusk"},
        },
    )
    assert saved.status_code == 201, saved.text
    prompt = saved.json()
    assert prompt["versions"][0]["variables"] == {"animal": "", "time": "dusk"}
    render = f"/api/studio/prompts/{prompt['id']}/render"
    filled = await client.post(render, headers=bearer(key), json={"values": {"animal": "fox"}})
    assert filled.json() == {"text": "a fox at dusk, ink"}
    missing = await client.post(render, headers=bearer(key), json={"values": {}})
    assert missing.status_code == 422 and missing.json()["errors"][0]["loc"] == [
        "body",
        "variables",
    ]
    revised = await client.post(
        f"/api/studio/prompts/{prompt['id']}/versions",
        headers=bearer(key),
        json={"text": "a {animal} at noon, watercolour"},
    )
    assert revised.status_code == 201 and revised.json()["version"] == 2
    old = await client.post(
        render, headers=bearer(key), json={"values": {"animal": "heron"}, "version": 1}
    )
    assert old.json() == {"text": "a heron at dusk, ink"}  # old versions stay usable
    tagged = await client.get("/api/studio/prompts", headers=bearer(key), params={"tag": "animals"})
    assert [p["latest"] for p in tagged.json()] == [2]
    bad_default = await client.post(
        "/api/studio/prompts",
        headers=bearer(key),
        json={"name": "x", "text": "plain", "defaults": {"colour": "red"}},
    )
    assert bad_default.status_code == 422
    _, stranger = await account_with_key(runtime)
    assert (
        await client.get(f"/api/studio/prompts/{prompt['id']}", headers=bearer(stranger))
    ).status_code == 404


async def test_a_studios_prompts_are_its_members(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A prompt shared with a market studio: every member lists and uses it, its editors
    revise it, a viewer may not, nobody outside sees it; a viewer cannot share into it."""
    _, owner = await account_with_key(runtime)
    editor_id, editor = await account_with_key(runtime)
    viewer_id, viewer = await account_with_key(runtime)
    _, outsider = await account_with_key(runtime)
    studio = (
        await client.post("/api/market/studios", headers=bearer(owner), json={"name": "Ink"})
    ).json()
    for user_id, role in ((editor_id, "editor"), (viewer_id, "viewer")):
        added = await client.put(
            f"/api/market/studios/{studio['id']}/members",
            headers=bearer(owner),
            json={"user_id": str(user_id), "role": role},
        )
        assert added.status_code == 204, added.text
    body = {"name": "house style", "text": "{subject}, sumi ink", "studio_id": studio["id"]}
    shared = await client.post("/api/studio/prompts", headers=bearer(owner), json=body)
    assert shared.status_code == 201 and shared.json()["studio_id"] == studio["id"]
    prompt = shared.json()["id"]
    listed = (await client.get("/api/studio/prompts", headers=bearer(viewer))).json()
    assert [p["id"] for p in listed] == [prompt]
    used = await client.post(
        f"/api/studio/prompts/{prompt}/render",
        headers=bearer(viewer),
        json={"values": {"subject": "a crane"}},
    )
    assert used.json() == {"text": "a crane, sumi ink"}
    versions = f"/api/studio/prompts/{prompt}/versions"
    refused = await client.post(versions, headers=bearer(viewer), json={"text": "{subject}"})
    assert refused.status_code == 403
    revised = await client.post(
        versions, headers=bearer(editor), json={"text": "{subject}, sumi ink, wet paper"}
    )
    assert revised.status_code == 201 and revised.json()["version"] == 2
    assert (
        await client.get(f"/api/studio/prompts/{prompt}", headers=bearer(outsider))
    ).status_code == 404
    assert (await client.get("/api/studio/prompts", headers=bearer(outsider))).json() == []
    sneaking = await client.post("/api/studio/prompts", headers=bearer(viewer), json=body)
    assert sneaking.status_code == 403


async def _jobs_of(runtime: Runtime, user_id: object) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(GenerationRequest)
            .where(GenerationRequest.user_id == user_id)
        )
    return int(found or 0)


async def test_an_agent_generates_ranks_and_drafts_resuming_a_failed_step(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    user_id, key = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    studio = await client.post("/api/market/studios", headers=bearer(key), json={"name": "Foxes"})
    assert studio.status_code == 201, studio.text
    planned = await client.post(
        "/api/studio/agents",
        headers=bearer(key),
        json={
            "template": "variations",
            "prompt": "a red fox in snow",
            "n": 3,
            "keep": 2,
            "studio_id": studio.json()["id"],
            "collection_name": "Snow Foxes",
        },
    )
    assert planned.status_code == 201, planned.text
    run = planned.json()
    assert run["status"] == "estimated"
    assert run["plan"]["jobs"] == 3 and run["plan"]["compute_seconds"] > 0
    assert await _jobs_of(runtime, user_id) == 0  # nothing runs before it is started
    started = await client.post(f"/api/studio/agents/{run['id']}/start", headers=bearer(key))
    assert started.status_code == 200, started.text
    again = await client.post(f"/api/studio/agents/{run['id']}/start", headers=bearer(key))
    assert again.status_code == 409
    await drain_tasks(runtime)
    async with worker_loop(client, volunteer, "w-agent", tmp_path, max_jobs=3) as loop:
        await asyncio.wait_for(loop.run(), timeout=180)
    for _ in range(3):
        await drain_tasks(runtime)
    view = (await client.get(f"/api/studio/agents/{run['id']}", headers=bearer(key))).json()
    # the owner has no market wallet yet: drafting the collection fails, and is retried
    assert view["steps"]["rank"].startswith("done"), view
    assert "draft" in view["steps"] and not view["steps"]["draft"].startswith("done"), view
    assert len(view["ranked"]) == 3 and sum(c["kept"] for c in view["ranked"]) == 2
    wallet = await client.post("/api/market/wallet", headers=bearer(key))
    assert wallet.status_code == 200, wallet.text
    for _ in range(12):
        await drain_tasks(runtime)
        view = (await client.get(f"/api/studio/agents/{run['id']}", headers=bearer(key))).json()
        if view["status"] != "running":
            break
        await asyncio.sleep(2)
    assert view["status"] == "done", view
    assert await _jobs_of(runtime, user_id) == 3  # the retried step made no new jobs
    collection = await client.get(
        f"/api/market/collections/{view['collection_id']}", headers=bearer(key)
    )
    assert collection.status_code == 200, collection.text
    assert len(view["nft_ids"]) == 2
    kept = [c for c in view["ranked"] if c["kept"]]
    assert kept[0]["score"] >= kept[1]["score"] >= view["ranked"][-1]["score"]


async def test_agent_input_is_checked_and_runs_are_private(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    for body, where in (
        ({"template": "opera", "prompt": "x"}, "template"),
        ({"template": "variations", "prompt": "  "}, "prompt"),
        ({"template": "variations", "prompt": "x", "cast": True}, "cast"),
    ):
        answer = await client.post("/api/studio/agents", headers=bearer(key), json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["loc"] == ["body", where]
    mine = await client.post(
        "/api/studio/agents", headers=bearer(key), json={"template": "music-pack", "prompt": "rain"}
    )
    _, stranger = await account_with_key(runtime)
    assert (
        await client.get(f"/api/studio/agents/{mine.json()['id']}", headers=bearer(stranger))
    ).status_code == 404


LOGLINE = (
    "A lighthouse keeper in a small harbour town finds a message in a bottle, "
    "but the storm that brought it is coming back for her."
)


async def test_a_short_film_from_a_logline(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    """The short-film template writes the logline's screenplay onto the portal; a member's
    waits there for a round, an admin's is filmed at once and drafted as an NFT."""
    _, member = await account_with_key(runtime)
    body = {"template": "short-film", "prompt": LOGLINE}
    planned = (await client.post("/api/studio/agents", headers=bearer(member), json=body)).json()
    assert planned["plan"]["films_now"] is False and planned["plan"]["scenes"] == 2
    assert planned["plan"]["quota_needed"] == 0 and planned["plan"]["jobs"] > 0
    await client.post(f"/api/studio/agents/{planned['id']}/start", headers=bearer(member))
    await drain_tasks(runtime)
    view = (await client.get(f"/api/studio/agents/{planned['id']}", headers=bearer(member))).json()
    assert view["status"] == "done", view
    assert "movie_id" not in view["params"]
    script = (
        await client.get(f"/api/scripts/{view['params']['script_id']}", headers=bearer(member))
    ).json()
    assert script["title"] == "A Lighthouse Keeper" and script["status"] == "pending_validation"
    assert script["scenes"] == 2

    _, admin = await account_with_key(runtime, ["admin"])
    _, volunteer = await account_with_key(runtime)
    assert (await client.post("/api/market/wallet", headers=bearer(admin))).status_code == 200
    studio = await client.post("/api/market/studios", headers=bearer(admin), json={"name": "Sea"})
    body |= {"studio_id": studio.json()["id"], "collection_name": "Harbour Films"}
    planned = (await client.post("/api/studio/agents", headers=bearer(admin), json=body)).json()
    assert planned["plan"]["films_now"] is True, planned
    jobs = planned["plan"]["jobs"]
    await client.post(f"/api/studio/agents/{planned['id']}/start", headers=bearer(admin))
    await drain_tasks(runtime)
    async with worker_loop(client, volunteer, "w-film", tmp_path, max_jobs=jobs) as loop:
        await asyncio.wait_for(loop.run(), timeout=240)
    for _ in range(20):
        await drain_tasks(runtime)
        view = (
            await client.get(f"/api/studio/agents/{planned['id']}", headers=bearer(admin))
        ).json()
        if view["status"] != "running":
            break
        await asyncio.sleep(1)
    assert view["status"] == "done", view
    movie = (await client.get(f"/api/movies/{view['params']['movie_id']}")).json()
    assert movie["status"] == "completed" and movie["cid"]
    assert len(view["nft_ids"]) == 1, view
    nft = (await client.get(f"/api/market/nfts/{view['nft_ids'][0]}", headers=bearer(admin))).json()
    assert nft["nft"]["artifact_id"] == movie["artifact_id"]
