"""Real processes: a worker SIGKILLed mid-job, a server restarted with jobs in flight, and
the `atelier job submit` CLI against them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from atelier.cli import app
from atelier.core.runtime import Runtime
from atelier.generators.image import ProceduralImageBackend
from atelier.grid import service
from atelier.grid.client import GridClient
from atelier.grid.models import Artifact, Attempt, Worker
from tests.grid.helpers import account_with_key, caps
from tests.servers import atelier_env, free_port, start_tasks, start_worker, stop, wait_healthy


def serve(home: Path, database_url: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "serve", "grid", "--port", str(port)],
        env=atelier_env(home, database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_healthy(f"http://localhost:{port}", process)
    return process


async def wait_for_state(
    grid: GridClient, request_id: uuid.UUID, states: set[str], timeout_s: float = 90
) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = (await grid.status(request_id)).state
        if state in states:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {request_id} never reached {states}")


async def test_sigkilled_worker_job_is_finished_by_another(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    _, creator_key = await account_with_key(runtime)
    _, volunteer_key = await account_with_key(runtime)
    port = free_port()
    server = serve(tmp_path / "server", database_url, port)
    url = f"http://localhost:{port}"
    first = second = None
    try:
        async with GridClient(url, creator_key) as grid:
            job = await grid.generate(
                {
                    "kind": "video",
                    "prompt": "long drive",
                    "duration_s": 30,
                    "width": 512,
                    "height": 288,
                }
            )
            first = start_worker(tmp_path / "w1", url, volunteer_key, "doomed", "--kinds", "video")
            await wait_for_state(grid, job.id, {"processing"})
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            async with runtime.sessions() as session, session.begin():
                # the lease runs out (its real expiry is covered by test_faults)
                await session.execute(
                    update(Attempt).where(Attempt.state == "active").values(expires_at=func.now())
                )
            async with runtime.sessions() as session, session.begin():
                report = await service.sweep(session, runtime.settings)
            assert report.expired == 1
            assert (await grid.status(job.id)).state == "queued"
            second = start_worker(
                tmp_path / "w2",
                url,
                volunteer_key,
                "rescuer",
                "--kinds",
                "video",
                "--max-jobs",
                "1",
            )
            # accepted: provenance signs it next (no task worker here, so it stays `signing`)
            assert await wait_for_state(grid, job.id, {"signing", "done", "faulted"}) != "faulted"
            final = await grid.status(job.id)
            assert final.attempts == 2
            second.wait(timeout=30)
        async with runtime.sessions() as session:
            artifacts = await session.scalar(
                select(func.count()).select_from(Artifact).where(Artifact.request_id == job.id)
            )
            doomed = await session.scalar(select(Worker).where(Worker.name == "doomed"))
        assert artifacts == 1
        assert doomed is not None and doomed.jobs_dropped == 1
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
        stop(server)


async def test_server_restart_loses_nothing_and_cli_submits(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    _, creator_key = await account_with_key(runtime)
    _, volunteer_key = await account_with_key(runtime)
    home = tmp_path / "server"
    first_port, second_port = free_port(), free_port()
    server = serve(home, database_url, first_port)
    tasks = None
    try:
        async with GridClient(f"http://localhost:{first_port}", creator_key) as grid:
            jobs = [
                (
                    await grid.generate(
                        {"kind": "image", "prompt": f"restart {i}", "width": 128, "height": 128}
                    )
                ).id
                for i in range(3)
            ]
        async with GridClient(f"http://localhost:{first_port}", volunteer_key) as volunteer:
            popped = await volunteer.pop(caps("survivor", ["image"]))
        assert popped.job is not None
        stop(server, signal.SIGTERM)
        server = serve(home, database_url, second_port)
        tasks = start_tasks(home, database_url)  # signs accepted results: jobs reach done
        url = f"http://localhost:{second_port}"

        # the job leased before the restart is still ours to finish
        output = ProceduralImageBackend().generate(
            "image", popped.job.params, tmp_path, lambda _: None
        )
        async with GridClient(url, volunteer_key) as volunteer:
            accepted = await volunteer.submit(
                popped.job, output.path, output.mime, 0.2, output.model
            )
        assert accepted.accepted

        worker = start_worker(
            tmp_path / "w", url, volunteer_key, "after-restart", "--max-jobs", "3"
        )
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            [
                "job",
                "submit",
                "--kind",
                "speech",
                "--prompt",
                "The grid survived a restart.",
                "--server",
                url,
                "--out",
                str(tmp_path / "out"),
            ],
            env={"ATELIER_API_KEY": creator_key, "COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        saved = [p for p in (tmp_path / "out").iterdir()]
        assert len(saved) == 1 and saved[0].read_bytes()[:4] == b"RIFF"
        async with GridClient(url, creator_key) as grid:
            for request_id in jobs:
                assert await wait_for_state(grid, request_id, {"done", "faulted"}) == "done"
        worker.wait(timeout=60)
        status = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["job", "status", str(jobs[0]), "--server", url],
            env={"ATELIER_API_KEY": creator_key, "COLUMNS": "200"},
        )
        assert "done" in status.output
        listing = await asyncio.to_thread(
            CliRunner().invoke, app, ["workers", "--server", url], env={"COLUMNS": "200"}
        )
        assert "after-restart" in listing.output
    finally:
        for process in (server, tasks):
            if process is not None and process.poll() is None:
                stop(process)


def test_worker_cli_refuses_bad_input(tmp_path: Path) -> None:
    no_key = CliRunner().invoke(
        app, ["worker", "--server", "http://localhost:9"], env=atelier_env(tmp_path)
    )
    assert no_key.exit_code == 2
    assert "API key is required" in no_key.output
    bad_kind = CliRunner().invoke(
        app,
        ["worker", "--kinds", "hologram"],
        env=atelier_env(tmp_path, ATELIER_API_KEY="atl_live_x"),
    )
    assert bad_kind.exit_code == 2
    assert "unknown kinds hologram" in bad_kind.output
    port = free_port()
    unreachable = CliRunner().invoke(
        app,
        ["job", "status", str(uuid.uuid4()), "--server", f"http://127.0.0.1:{port}"],
        env=atelier_env(tmp_path, ATELIER_API_KEY="atl_live_x"),
    )
    assert unreachable.exit_code == 2
    assert f"cannot reach http://127.0.0.1:{port}/" in unreachable.output.replace("\n", "")
    # without --server, the client commands follow ATELIER_PORT (the server's own setting)
    on_port = CliRunner().invoke(
        app,
        ["job", "status", str(uuid.uuid4())],
        env=atelier_env(tmp_path, ATELIER_API_KEY="atl_live_x", ATELIER_PORT=str(port)),
    )
    assert f"cannot reach http://localhost:{port}/" in on_port.output.replace("\n", "")
    typo = CliRunner().invoke(
        app, ["workers"], env=atelier_env(tmp_path, ATELIER_PORT="abc", COLUMNS="300")
    )
    assert typo.exit_code == 2
    assert typo.output.strip().splitlines() == [
        "error: ATELIER_PORT='abc' is not valid: Input should be a valid integer, unable to "
        "parse string as an integer"
    ]
