"""End to end: `atelier up` on the embedded default, a second service joining it, a clean
shutdown with no PostgreSQL left behind, and the operator CLI."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from atelier.cli import app
from atelier.core.startup import close_runtime, open_runtime
from atelier.identity.models import User
from atelier.server.modules import task_blueprints
from tests.conftest import make_settings
from tests.helpers import STRONG_PASSWORD, unique_email, verification_token_for
from tests.servers import atelier_env, free_port, stop, wait_healthy


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(pgdata) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _wait_gone(pgdata: Path, timeout_s: float = 15) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = _postgres_processes(pgdata)
        if not left:
            return []
        time.sleep(0.2)
    return _postgres_processes(pgdata)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_serves_the_whole_flow_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    home = tmp_path / "home"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "up", "--port", str(port)],
        env=atelier_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    second = None
    try:
        wait_healthy(url, process)
        assert httpx.get(f"{url}/ready").json()["status"] == "ready"

        # The full sign-up flow: the email is sent by the task worker `up` runs.
        address = unique_email("up")
        registered = httpx.post(
            f"{url}/api/v1/auth/register", json={"email": address, "password": STRONG_PASSWORD}
        )
        assert registered.status_code == 202
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                token = verification_token_for(home / "mailbox", address)
                break
            except (AssertionError, FileNotFoundError):
                time.sleep(0.2)
        else:
            raise AssertionError("no verification email from the task worker")
        assert httpx.get(f"{url}/api/v1/auth/verify-email", params={"token": token}).is_success
        login = httpx.post(
            f"{url}/api/v1/auth/login", json={"email": address, "password": STRONG_PASSWORD}
        )
        assert login.status_code == 200

        # The built-in worker turns jobs into validated files that open.
        access = {"Authorization": f"Bearer {login.json()['access_token']}"}
        jobs = {
            kind: httpx.post(
                f"{url}/api/v1/generate",
                headers=access,
                json={"kind": kind, "prompt": "Hello from make run."},
            ).json()["id"]
            for kind in ("image", "music", "speech")
        }
        magic = {"image": b"\x89PNG", "music": b"RIFF", "speech": b"RIFF"}
        models = {"image": "procedural-v1", "music": "synth-v1", "speech": "espeak-ng"}
        for kind, job_id in jobs.items():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = httpx.get(f"{url}/api/v1/generate/status/{job_id}", headers=access).json()
                if status["state"] in ("done", "faulted"):
                    break
                time.sleep(0.2)
            assert status["state"] == "done", status
            # a newcomer gets what the README promises: a signed file, the model that ran
            assert status["result"]["signing"] == "signed", status
            assert status["result"]["model"] == models[kind]
            result = httpx.get(f"{url}{status['result_url']}", headers=access)
            assert result.content.startswith(magic[kind])
            assert result.headers["x-atelier-manifest"] == "embedded"
            assert hashlib.sha256(result.content).hexdigest() == status["result"]["sha256"]

        # Another service joins the same embedded database and answers /health.
        other_port = free_port()
        second = subprocess.Popen(
            [sys.executable, "-m", "atelier", "serve", "provenance", "--port", str(other_port)],
            env=atelier_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(f"http://localhost:{other_port}", second)
        health = httpx.get(f"http://localhost:{other_port}/health").json()
        assert health["services"] == ["provenance"]
        assert httpx.get(f"http://localhost:{other_port}/api/v1/auth/me").status_code == 404
    finally:
        outputs = []
        for proc in (second, process):
            if proc is not None and proc.poll() is None:
                outputs.append(stop(proc, stop_signal))
    assert process.returncode == 0, outputs[-1][-2000:]
    assert second is not None
    assert second.returncode == 0
    assert _wait_gone(home / "pgdata") == []
    log = outputs[-1]
    assert STRONG_PASSWORD not in log
    assert token not in log
    assert "Traceback" not in log, log[-3000:]


def test_serve_refuses_unknown_service(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "mystery"], env=atelier_env(tmp_path))
    assert result.exit_code == 2
    assert "unknown service mystery" in result.output


def test_user_promote_and_demote(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = atelier_env(tmp_path, database_url, COLUMNS="250")
    address = unique_email("ops")

    async def seed() -> None:
        runtime = await open_runtime(
            make_settings(tmp_path, database_url), database_url, blueprints=task_blueprints()
        )
        async with runtime.sessions() as session, session.begin():
            session.add(User(email=address, roles=["creator"]))
        await close_runtime(runtime)

    asyncio.run(seed())
    promoted = runner.invoke(app, ["user", "promote", address, "validator"], env=env)
    assert promoted.exit_code == 0, promoted.output
    assert "creator, validator" in promoted.output
    demoted = runner.invoke(app, ["user", "demote", address, "creator"], env=env)
    assert "validator" in demoted.output
    assert "creator" not in demoted.output.split("roles")[1]
    unknown_role = runner.invoke(app, ["user", "promote", address, "wizard"], env=env)
    assert unknown_role.exit_code == 2
    assert "unknown role" in unknown_role.output
    nobody = runner.invoke(app, ["user", "promote", "nobody@example.org", "admin"], env=env)
    assert nobody.exit_code == 2
    assert "no account" in nobody.output
    listed = runner.invoke(app, ["user", "list"], env=env)
    assert address in listed.output


def test_up_refuses_a_busy_port_before_starting_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["up", "--port", str(port)], env=atelier_env(tmp_path / "home")
        )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "home" / "pgdata").exists()


def test_a_killed_process_does_not_keep_postgres_running(tmp_path: Path) -> None:
    """A process killed without exiting stays on pgserver's list of handles; the next one to
    stop cleanly must still stop PostgreSQL."""
    home = tmp_path / "home"

    def serve() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "atelier", "serve", "provenance", "--port", str(port)],
            env=atelier_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        url = f"http://localhost:{port}"
        wait_healthy(url, process)
        return process, url

    crashed, _ = serve()
    crashed.kill()
    crashed.wait()
    assert _postgres_processes(home / "pgdata"), "PostgreSQL should outlive a killed client"
    clean, url = serve()
    assert httpx.get(f"{url}/ready").json()["status"] == "ready"
    output = stop(clean)
    assert clean.returncode == 0, output[-2000:]
    assert _wait_gone(home / "pgdata") == []
