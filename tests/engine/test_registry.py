"""The engine end to end, on the grid with a real worker and tiny ONNX models built here:
catalog versions found by the update check, benchmarked on the grid against reference
images, activated or sent to an A/B test on live jobs, the test decided, rollback."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import pytest
import sqlalchemy
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from atelier.cli import app
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.engine import service
from atelier.engine.models import Experiment, ModelEvent
from atelier.generators.onnx_image import OnnxImageBackend
from atelier.generators.registry import CatalogLoader, available_backends
from atelier.grid.events import JobEnded
from atelier.grid.worker import WorkerLoop, catalog_refresh
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, asgi_client
from tests.helpers import bearer, drain_tasks

CASES = [
    {"prompt": "a lighthouse", "seed": 1, "width": 64, "height": 64, "format": "png"},
    {"prompt": "a red fox", "seed": 2, "width": 64, "height": 64, "format": "png"},
]
BASE_WEIGHTS = np.random.default_rng(0).normal(0, 0.5, (4, 3, 8, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalog")


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, catalog: Path
) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        database_url,
        model_catalog=catalog,
        grid_max_attempts=1,  # a failed job ends at once (the A/B test sees it)
        engine_benchmark_timeout_s=60,
        quota_daily=500,
    )


def build_model(path: Path, weights: np.ndarray, *, static: bool = False, broken: bool = False):
    """latent [1,4,h,w] → ConvTranspose x8 → Tanh → image [1,3,8h,8w]. `static`: only 64x64
    (a latent of exactly 8x8); `broken`: outputs one channel (the backend refuses it)."""
    dims: list[Any] = [1, 4, 8, 8] if static else [1, 4, "h", "w"]
    nodes = [
        helper.make_node("ConvTranspose", ["latent", "w"], ["up"], strides=[8, 8]),
        helper.make_node("Tanh", ["up"], ["image"]),
    ]
    if broken:
        weights = weights[:, :1]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, None, None, None])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def add_version(
    catalog: Path, version: str, noise: float, *, sha256: str | None = None, **kwargs: Any
) -> str:
    folder = catalog / "image" / "tiny" / version
    folder.mkdir(parents=True)
    rng = np.random.default_rng(int(version) + 100)
    weights = BASE_WEIGHTS + rng.normal(0, noise, BASE_WEIGHTS.shape).astype(np.float32)
    build_model(folder / "model.onnx", weights, **kwargs)
    import hashlib

    digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    manifest = {
        "name": "tiny",
        "version": version,
        "capability": "image",
        "backend": "onnx-image",
        "weights": "model.onnx",
        "sha256": sha256 or digest,
    }
    (folder / "model.json").write_text(json.dumps(manifest))
    return f"tiny@{version}"


def write_suite(catalog: Path, tmp: Path) -> None:
    """The benchmark: two cases whose references are the base model's own outputs."""
    build_model(tmp / "reference.onnx", BASE_WEIGHTS)
    reference = OnnxImageBackend(tmp / "reference.onnx")
    folder = catalog / "image" / "benchmark"
    folder.mkdir(parents=True)
    cases = []
    for index, case in enumerate(CASES):
        out = tmp / f"case-{index}"
        out.mkdir()
        made = reference.generate("image", dict(case), out, lambda _: None)
        made.path.rename(folder / f"reference-{index}.png")
        cases.append({**case, "reference": f"reference-{index}.png"})
    (folder / "cases.json").write_text(json.dumps(cases))


@pytest.fixture(scope="module")
async def worker(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, catalog: Path
) -> AsyncIterator[WorkerLoop]:
    """One volunteer worker with the built-in backends and the catalog's versions, which it
    looks at again before every poll."""
    _, key = await account_with_key(runtime)
    builtins, _ = available_backends()
    refresh = catalog_refresh("gpu-box", builtins, CatalogLoader(catalog), None, 4096**2, 600.0)
    backends, caps = refresh()
    loop = WorkerLoop(
        asgi_client(client, key),
        caps,
        backends,
        workdir=settings.uploads_dir,
        idle_poll_s=0.05,
        refresh=refresh,
        refresh_every_s=0.0,
    )
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    task = asyncio.create_task(loop.run())
    yield loop
    loop.request_stop()
    loop.request_stop()
    await asyncio.wait_for(task, 30)
    await loop.client.close()


async def info(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/api/models/info")
    assert answer.status_code == 200
    return dict(answer.json())


def version_of(found: dict[str, Any], model_id: str) -> dict[str, Any]:
    return next(v for v in found["versions"] if v["model_id"] == model_id)


async def settle(runtime: Runtime, client: httpx.AsyncClient, done: Any, limit_s: float = 90):
    """Run the task worker (outbox, flows) while the grid worker works, until `done(info)`."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        await drain_tasks(runtime)
        found = await info(client)
        if done(found):
            return found
        assert asyncio.get_running_loop().time() < deadline, json.dumps(found)[:3000]
        await asyncio.sleep(0.2)


async def update(client: httpx.AsyncClient, admin: str) -> dict[str, Any]:
    answer = await client.post("/api/models/update", headers=bearer(admin))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def cli_env(database_url: str, settings: Settings) -> dict[str, str]:
    return {"ATELIER_DATABASE_URL": database_url, "ATELIER_HOME": str(settings.home)}


async def test_catalog_to_champion_to_ab_test_to_rollback(
    client: httpx.AsyncClient,
    runtime: Runtime,
    catalog: Path,
    worker: WorkerLoop,
    tmp_path: Path,
    cli_env: dict[str, str],
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    _, creator = await account_with_key(runtime)
    write_suite(catalog, tmp_path)
    first = add_version(catalog, "1", 0.01)
    while worker.caps.models.count(first) == 0 or not await live(client):
        await asyncio.sleep(0.05)

    # the capabilities of the live grid, per backend
    answer = await client.get("/api/capabilities")
    assert answer.status_code == 200
    kinds = {k["kind"]: k for k in answer.json()["kinds"]}
    image_backends = {b["name"]: b for b in kinds["image"]["backends"]}
    assert first in image_backends["onnx-image"]["models"]
    assert "procedural-v1" in image_backends["procedural-image"]["models"]

    # an update check as anyone else is refused; as an admin it finds the version
    assert (await client.post("/api/models/update", headers=bearer(creator))).status_code == 403
    report = await update(client, admin)
    assert report["found"] == [first]
    assert "procedural-v1" in report["champions"]  # the built-in model is the first champion
    found = await settle(runtime, client, lambda f: version_of(f, first)["status"] != "candidate")
    chosen = version_of(found, first)
    assert chosen["status"] == "active" and chosen["aliases"] == ["champion"], chosen
    assert chosen["scores"]["psnr_db"] > 30 and chosen["scores"]["ssim"] > 0.85
    assert found["champions"]["image"] == first
    assert version_of(found, "procedural-v1")["scores"]["ssim"] < 0.5  # the old champion's
    actions = [e["action"] for e in found["events"]]
    assert {"found", "decision:activate", "champion", "update-check"} <= set(actions)

    # a second version, close to the first but static (64x64 only): marginal → A/B test
    second = add_version(catalog, "2", 0.01, static=True)
    while worker.caps.models.count(second) == 0:
        await asyncio.sleep(0.05)
    assert (await update(client, admin))["found"] == [second]
    found = await settle(runtime, client, lambda f: bool(f["experiments"]))
    assert found["challengers"] == {"image": second}
    assert version_of(found, second)["status"] == "testing"

    # live 128x128 jobs: the champion's succeed, the challenger's fail (it only makes 64x64);
    # the test stops early and keeps the champion
    async def submit() -> None:
        body = {"prompt": f"live {uuid.uuid4().hex[:6]}", "width": 128, "height": 128}
        answer = await client.post("/api/generate/image", headers=bearer(creator), json=body)
        assert answer.status_code == 202, answer.text

    def decided(f: dict[str, Any]) -> bool:
        return f["experiments"][0]["state"] == "decided"

    def observed(f: dict[str, Any]) -> int:
        test = f["experiments"][0]
        return int(test["champion"]["jobs"] + test["challenger"]["jobs"])

    submitted = 0
    for _batch in range(8):  # the test decides after some 35 jobs per arm
        for _ in range(20):
            await submit()
        submitted += 20
        found = await settle(
            runtime,
            client,
            lambda f, n=submitted: decided(f) or observed(f) >= n,
            limit_s=120,
        )
        if decided(found):
            break
    test = found["experiments"][0]
    assert test["verdict"] == "champion", test
    assert test["challenger"]["failures"] == test["challenger"]["jobs"] > 0
    assert test["champion"]["failures"] == 0 and test["champion"]["jobs"] > 0
    assert test["looks"] and test["looks"][-1]["high"] < 0
    assert found["champions"]["image"] == first and found["challengers"] == {}
    assert version_of(found, second)["status"] == "standby"
    page = await client.get("/models")  # the page plots the test's confidence sequence
    assert page.status_code == 200
    assert 'class="cs-plot"' in page.text and "<polygon points=" in page.text
    assert "tiny@2" in page.text and "Roll image back" not in page.text  # not an admin

    # rollback: `atelier models rollback image` restores the champion before the last change
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["models", "rollback", "image"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert "procedural-v1 is the champion again" in result.output
    found = await info(client)
    assert found["champions"]["image"] == "procedural-v1"
    assert found["events"][0]["action"] == "rollback"


async def live(client: httpx.AsyncClient) -> bool:
    answer = await client.get("/api/capabilities")
    return bool(answer.json()["live_workers"])


async def test_bad_candidates_are_rejected_and_never_served(
    client: httpx.AsyncClient, runtime: Runtime, catalog: Path, worker: WorkerLoop
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    forged = add_version(catalog, "7", 0.01, sha256="ab" * 32)  # weights not the pinned ones
    crashing = add_version(catalog, "8", 0.01, broken=True)  # its backend fails every job
    while worker.caps.models.count(crashing) == 0:
        await asyncio.sleep(0.05)
    assert forged not in worker.caps.models  # the worker does not offer forged weights
    report = await update(client, admin)
    assert "not the" in report["rejected"][forged] and report["found"] == [crashing]
    found = await settle(
        runtime, client, lambda f: version_of(f, crashing)["status"] != "candidate"
    )
    assert version_of(found, forged)["status"] == "rejected"
    rejected = version_of(found, crashing)
    assert rejected["status"] == "rejected", rejected
    assert "model output has shape (1, 1, 64, 64)" in rejected["status_reason"]
    assert found["champions"]["image"] != crashing


async def test_two_update_checks_at_once_one_runs(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    async with runtime.sessions() as session, session.begin():
        await service.check_updates(session, settings, "test")  # holds the check's lock
        answer = await client.post("/api/models/update", headers=bearer(admin))
        assert answer.status_code == 409
        assert answer.json()["type"] == "/problems/update-check-running"
    assert (await client.post("/api/models/update", headers=bearer(admin))).status_code == 200


async def test_a_better_challenger_wins_and_rollback_closes_after_seven_days(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, cli_env: dict[str, str]
) -> None:
    """The observation path the grid's `JobEnded` events drive, with rewards chosen here."""
    async with runtime.sessions() as session, session.begin():
        champion = await service.repo.alias(session, "image", "champion")
        assert champion is not None
        experiment = await service.start_experiment(
            session, settings, "image", "tiny@1", reason="test"
        )
    rng = np.random.default_rng(5)
    for index in range(400):
        arm = "challenger" if index % 2 else "champion"
        quality = float(rng.uniform(0.7, 1.0) if arm == "challenger" else rng.uniform(0.3, 0.6))
        event = JobEnded(
            request_id=uuid.uuid4(),
            kind="image",
            state="done",
            source="engine",
            model="x",
            experiment_id=experiment.id,
            arm=arm,
            quality=quality,
        )
        async with runtime.sessions() as session, session.begin():
            if not await service.observe(session, event):
                break
        again = event.model_copy()
        async with runtime.sessions() as session, session.begin():
            assert not await service.observe(session, again)  # counted once
    found = await info(client)
    test = next(t for t in found["experiments"] if t["id"] == str(experiment.id))
    assert test["verdict"] == "challenger" and test["looks"][-1]["low"] > 0
    assert test["champion"]["jobs"] + test["challenger"]["jobs"] < 300  # stopped early
    assert found["champions"]["image"] == "tiny@1"

    async with runtime.sessions() as session, session.begin():
        await session.execute(
            sqlalchemy.update(ModelEvent)
            .where(ModelEvent.capability == "image")
            .values(at=now_utc() - timedelta(days=8))
        )
        await session.execute(sqlalchemy.update(Experiment).values(ends_at=now_utc()))
    _, admin = await account_with_key(runtime, ["admin"])
    answer = await client.post("/api/models/image/rollback", headers=bearer(admin))
    assert answer.status_code == 409
    assert answer.json()["type"] == "/problems/rollback-expired"
    assert "rollback is open for 7 days" in answer.json()["detail"]
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["models", "rollback", "image"], env=cli_env
    )
    assert result.exit_code == 2
    assert "rollback is open for 7 days" in " ".join(result.output.split())
    unknown = await client.post("/api/models/sculpture/rollback", headers=bearer(admin))
    assert unknown.status_code == 422
