"""Real `atelier` processes for end-to-end tests, and small HTTP stand-ins for the outside
services they talk to (a chain node, a hostile server)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def atelier_env(home: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    env["ATELIER_HOME"] = str(home)
    if database_url:
        env["ATELIER_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def start_worker(
    home: Path, server: str, api_key: str, name: str, *extra: str
) -> subprocess.Popen[bytes]:
    """A real `atelier worker` process; the key travels in the environment, not argv. Its
    output goes to `home/worker-<name>.log` (a pipe nobody reads could block it)."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / f"worker-{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "atelier", "worker", "--server", server, "--name", name, *extra],
            env=atelier_env(home, ATELIER_API_KEY=api_key),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def start_tasks(home: Path, database_url: str) -> subprocess.Popen[bytes]:
    """A real `atelier tasks` process (outbox events: provenance signs what the grid
    accepted, so jobs reach `done`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "atelier", "tasks"],
        env=atelier_env(home, database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}:\n{out[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{url} was not healthy within {timeout_s} s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout_s: float = 30) -> str:
    process.send_signal(sig)
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        text = (out or b"").decode()
        raise AssertionError(f"server ignored signal {sig}:\n{text[-3000:]}") from None
    return (out or b"").decode()


@contextlib.contextmanager
def running_server(
    home: Path, database_url: str | None, services: list[str], **env: str
) -> Iterator[str]:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    # A file, not a pipe: a busy server logs a line per request, and a pipe nobody reads
    # fills up and blocks it mid-request.
    log = (home / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "serve", *services, "--port", str(port)],
        env=atelier_env(home, database_url, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        if process.poll() is None:
            stop(process)
        log.close()


class JsonHandler(BaseHTTPRequestHandler):
    """A stand-in's request handler: `answer` sends JSON; nothing is logged."""

    def body(self) -> object:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def answer(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def stand_in(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free local port for the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
