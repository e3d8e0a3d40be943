"""A model provider's API as a catalog source, against a local stand-in provider serving
its index and weights over real HTTP: verified versions join the catalog, others leave
nothing behind."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from atelier.engine import provider
from atelier.generators import catalog

WEIGHTS = {"good": b"\x08" * 4096, "forged": b"\x09" * 4096, "huge": b"\x07" * 100_000}


class StandIn(BaseHTTPRequestHandler):
    """GET /models (bearer token required) and GET /weights/<name>."""

    index: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        if self.path == "/models":
            if self.headers.get("Authorization") != "Bearer s3cret":
                self.send_error(401)
                return
            self._send(json.dumps(self.index).encode(), "application/json")
        elif self.path.startswith("/weights/") and self.path[9:] in WEIGHTS:
            self._send(WEIGHTS[self.path[9:]], "application/octet-stream")
        else:
            self.send_error(404)

    def _send(self, body: bytes, mime: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def entry(name: str, **change: Any) -> dict[str, Any]:
        item = {"name": name, "version": "1", "capability": "image", "backend": "onnx-image"}
        item |= {"sha256": hashlib.sha256(WEIGHTS.get(name, b"")).hexdigest()}
        item |= {"weights_url": f"{url}/weights/{name}", **change}
        return item

    StandIn.index = [
        entry("good"),
        entry("forged", sha256="ab" * 32),
        entry("huge"),
        entry("missing"),
        entry("local", weights_url="file:///etc/passwd"),
        entry("music", capability="music"),
    ]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()


def test_verified_versions_join_the_catalog_and_nothing_else_stays(
    stand_in: str, tmp_path: Path
) -> None:
    report = provider.sync(stand_in, tmp_path, token="s3cret", max_bytes=50_000)
    assert report.error is None and report.fetched == ["good@1"]
    assert "not the announced one" in report.refused["forged@1"]
    assert "larger than 50000 bytes" in report.refused["huge@1"]
    assert "404" in report.refused["missing@1"]
    assert "http(s)" in report.refused["local@1"]
    assert "does not serve" in report.refused["music@1"]
    entries, unreadable = catalog.scan(tmp_path)
    assert [e.model_id for e in entries] == ["good@1"] and unreadable == []
    assert entries[0].weights_problem() is None
    assert sorted(p.name for p in (tmp_path / "image").iterdir()) == ["good"]  # no leftovers
    again = provider.sync(stand_in, tmp_path, token="s3cret", max_bytes=50_000)
    assert "good@1" not in again.fetched  # fetched once


def test_an_unreachable_or_refusing_provider_is_reported(stand_in: str, tmp_path: Path) -> None:
    refused = provider.sync(stand_in, tmp_path, token="wrong")
    assert refused.error is not None and "401" in refused.error
    gone = provider.sync("http://127.0.0.1:9", tmp_path)
    assert gone.error is not None and gone.fetched == []
