"""Input built to break the server: deep JSON, NUL bytes, lone surrogates, absurd dates and
numbers. Every one is a clear 422, never a 500, and the server lives on."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import httpx
import pytest

from atelier.chain.evm.client import chain_for
from atelier.core.limits import BASELINE_RECURSION_LIMIT, json_nesting_depth
from atelier.core.runtime import Runtime
from tests.governance.helpers import proposal
from tests.grid.helpers import account_with_key
from tests.helpers import bearer, register_verified
from tests.servers import running_server

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_nesting_depth_ignores_brackets_in_strings() -> None:
    assert json_nesting_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_nesting_depth(b'"\\"[[["') == 0
    assert json_nesting_depth(DEEP) == 100_000
    assert json_nesting_depth(b"not json at all") == 0


async def test_deep_json_is_refused_everywhere(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/generate", "/api/vote", "/chain/rpc"):
        for content_type in ("application/json", None):
            headers = {"content-type": content_type} if content_type else {}
            response = await client.post(path, content=DEEP, headers=headers)
            assert response.status_code == 422, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == "/problems/invalid-json"
    shallow = b'{"email": ' + b"[" * 20 + b"]" * 20 + b', "password": "x"}'
    answered = await client.post(
        "/api/v1/auth/login", content=shallow, headers={"content-type": "application/json"}
    )
    assert answered.status_code == 422
    assert answered.json()["type"] == "/problems/invalid-input"


async def test_malformed_json_says_what_is_wrong(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/invalid-json"
    assert "not valid JSON" in body["detail"] and "invalid fields: 1" not in body["detail"]


async def test_the_embedded_chain_leaves_the_recursion_limit_alone(runtime: Runtime) -> None:
    await chain_for(runtime)  # imports and opens py-evm, which raises the limit at import
    assert sys.getrecursionlimit() == BASELINE_RECURSION_LIMIT


def test_a_real_server_survives_a_deep_body(tmp_path: Path, database_url: str) -> None:
    with running_server(tmp_path / "home", database_url, ["grid", "governance"]) as url:
        for _ in range(3):
            hit = httpx.post(
                f"{url}/api/v1/auth/login",
                content=DEEP,
                headers={"content-type": "application/json"},
                timeout=30,
            )
            assert hit.status_code == 422, hit.text
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200


NUL = "\\u0000"
WORKER = '"kinds": ["image"], "models": ["procedural-v1"]'
UNSTORABLE = [
    (
        "POST",
        "/api/v1/workers/register",
        f'{{"name": "w1", "kinds": ["image"], "models": ["m{NUL}"]}}',
    ),
    ("POST", "/api/v1/workers/heartbeat", f'{{"name": "w{NUL}"}}'),
    ("POST", "/api/v1/workers/pop", f'{{"name": "w1", "kinds": ["image"], "models": ["{NUL}"]}}'),
    (
        "POST",
        "/api/v1/workers/pop",
        f'{{"name": "w1", {WORKER}, "max_pixels": 9223372036854775808}}',
    ),
    (
        "POST",
        "/api/v1/workers/register",
        f'{{"name": "w1", {WORKER}, "max_pixels": 9223372036854775808}}',
    ),
    ("POST", "/api/v1/generate", f'{{"kind": "image", "prompt": "a fox{NUL}"}}'),
    ("POST", "/api/v1/generate", f'{{"kind": "image", "prompt": "fox", "model": "m{NUL}"}}'),
    ("POST", "/api/v1/generate", f'{{"kind": "speech", "prompt": "hi", "voice": "en{NUL}"}}'),
    ("POST", "/api/v1/generate", '{"kind": "image", "prompt": "lone \\ud800 surrogate"}'),
    ("POST", "/api/jobs", f'{{"scene": "city{NUL}"}}'),
    ("POST", "/api/proposals", f'{{"title": "t{NUL}", "ends_at": "2099-01-01T00:00:00Z"}}'),
    (
        "POST",
        "/api/proposals",
        f'{{"title": "t", "choices": ["a{NUL}", "b"], "ends_at": "2099-01-01T00:00:00Z"}}',
    ),
    (
        "POST",
        "/api/proposals",
        f'{{"title": "t", "strategy_params": {{"to{NUL}ken": "x"}}, "ends_at": "2099-01-01T00:00:00Z"}}',
    ),
    ("POST", "/api/proposals", '{"title": "t", "ends_at": "9999-12-31T00:00:00Z"}'),
    ("POST", "/api/proposals", '{"title": "t", "ends_at": "2099-01-01T00:00:00"}'),
    (
        "POST",
        "/api/proposals",
        '{"title": "t", "quorum": 1e999999, "ends_at": "2099-01-01T00:00:00Z"}',
    ),
    (
        "POST",
        "/api/proposals",
        '{"title": "t", "quorum": "NaN", "ends_at": "2099-01-01T00:00:00Z"}',
    ),
    ("PUT", "/api/v1/user/profile", f'{{"display_name": "Ada{NUL}"}}'),
    ("POST", "/api/music/style", f'{{"wallet": "0x{"0" * 40}", "truck_style": "chrome{NUL}"}}'),
]
SESSION_ONLY = [
    ("POST", "/api/v1/user/api-keys", f'{{"name": "key{NUL}"}}'),
    ("POST", "/api/v1/user/wallets/custodial", f'{{"label": "mine{NUL}"}}'),
]


@pytest.mark.parametrize(("method", "path", "body"), UNSTORABLE + SESSION_ONLY)
async def test_unstorable_values_are_422(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: str
) -> None:
    if (method, path, body) in SESSION_ONLY:
        _, tokens = await register_verified(client, runtime)
        credential = tokens["access_token"]
    else:
        _, credential = await account_with_key(runtime, roles=["creator", "worker"])
    # the JSON text as written: escapes such as \u0000 reach the server's own parser
    headers = {**bearer(credential), "content-type": "application/json"}
    response = await client.request(method, path, headers=headers, content=body.encode())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"], response.json()


async def test_unstorable_query_parameters_are_422(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    created = await proposal(client, key)
    nul = await client.get(f"/api/vote/{created['id']}?cursor=0x%00")
    assert nul.status_code == 422, nul.text
    not_utf8 = await client.get(f"/api/vote/{created['id']}?cursor=%ED%A0%80%FF")
    assert not_utf8.status_code == 200, not_utf8.text  # decoded with replacement characters
    listed = await client.get("/api/proposals", params={"before": "9999-12-31T00:00:00Z"})
    assert listed.status_code == 422
    typed = await client.get(
        f"/api/vote/{created['id']}/typed-data",
        params={"wallet": "0x" + "1" * 40, "vote": "approve", "timestamp": str(2**63)},
    )
    assert typed.status_code == 422
    assert (
        await client.get(f"/api/vote/{uuid.uuid4()}", params={"cursor": "ok"})
    ).status_code == 404


async def test_a_form_label_with_a_nul_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """`/index` silently cut such a label at the NUL."""
    from tests.storage.test_media_limits import gigahertz_wav

    _, validator = await account_with_key(runtime, ["validator"])
    response = await client.post(
        "/index",
        headers=bearer(validator),
        files={"file": ("x.wav", gigahertz_wav())},
        data={"label": "known\x00work"},
    )
    assert response.status_code == 422
    assert any(e["loc"][-1] == "label" for e in response.json()["errors"])


def test_polled_routes_log_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    """The local worker's pop was logged at info every 2 s (461 lines in 20 minutes)."""
    from atelier.core.logging import configure_logging
    from atelier.server.app import POLLED

    assert "/api/v1/workers/pop" in POLLED
    configure_logging("info")
    from starlette.testclient import TestClient

    from atelier.core.config import Settings
    from atelier.server.app import create_app

    app = create_app(
        Settings(_env_file=None, database_url="postgresql://unused/x"),  # type: ignore[call-arg]
        services=["engine"],
    )
    http = TestClient(app)  # no lifespan: these two routes need no database
    assert http.get("/health").status_code == 200
    assert http.get("/nope").status_code == 404
    err = capsys.readouterr().err
    assert "path=/health" not in err  # a success on a polled route: debug
    assert "path=/nope" in err  # anything else, and failures: info
