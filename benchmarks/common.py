"""Shared benchmark plumbing: an embedded PostgreSQL, timing helpers, result tables."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from atelier.core import migrate
from atelier.core.embedded import create_database_if_missing

RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    metric: str
    value: float
    unit: str
    target: str = ""
    note: str = ""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "p50": percentile(ms, 50),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms),
    }


def embedded_database(label: str) -> tuple[Any, str]:
    """A throwaway embedded PostgreSQL with the schema applied."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp()) / "pg", cleanup_mode="delete")
    create_database_if_missing(server.get_uri(), label)
    url = str(server.get_uri(label))
    migrate.upgrade(url)
    return server, url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    service: str, url: str, home: Path, port: int, **env: str
) -> subprocess.Popen[bytes]:
    """A real `atelier serve SERVICE` process on `url`, logging warnings only, with limits
    and quotas out of the way (the load comes from one client); `env` adds settings."""
    environment = {
        **os.environ,
        "ATELIER_HOME": str(home),
        "ATELIER_DATABASE_URL": url,
        "ATELIER_LOG_LEVEL": "warning",
        "ATELIER_RATE_LIMIT_WRITE": "1000000/minute",
        "ATELIER_RATE_LIMIT_WORKER": "100000000/minute",
        "ATELIER_QUOTA_DAILY": "100000",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "serve", service, "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://localhost:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"atelier serve {service} did not start")


def write_results(name: str, rows: list[Row], context: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        **context,
    }
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"meta": meta, "rows": [r.__dict__ for r in rows]}, indent=2) + "\n"
    )
    lines = [
        f"# {name}",
        "",
        f"Run {meta['at']} on {meta['machine']}"
        + "".join(f"; {k}: {v}" for k, v in context.items()),
        "",
        "| metric | value | unit | target | note |",
        "| --- | ---: | --- | --- | --- |",
        *(f"| {r.metric} | {r.value:.3f} | {r.unit} | {r.target} | {r.note} |" for r in rows),
        "",
    ]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines))
    return path
