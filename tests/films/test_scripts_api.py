"""Submitting screenplays: Fountain and laid-out text, as JSON or as a file; repeats and near
copies flagged with their match; listing and reading with the parsed structure; and what
is refused (PDF for now, binary, a title page alone, too large, no title, no key)."""

from __future__ import annotations

import httpx
import pytest

from atelier.core.runtime import Runtime
from tests.films.samples import feature
from tests.grid.helpers import account_with_key
from tests.helpers import bearer

SHORT = (
    "Title: Coffee Break\nAuthor: Jo\n\nINT. OFFICE - DAY\n\nRain on glass.\n\n"
    "MAYA\n(tired)\nAnother one?\n\nLEO (O.S.)\nAlways.\n\nCUT TO:\n\nEXT. STREET - NIGHT\n\n"
    "They walk.\n"
)
LAID_OUT = """                              LATE SHIFT

INT. DINER - NIGHT

Rain on the windows. EDWARD sits alone.

                         EDWARD
               (to himself)
          Nobody comes here anymore.

                         SANDRA (O.S.)
          I do.

She slides into the booth.

                                                       CUT TO:
"""


@pytest.fixture(scope="module")
async def key(runtime: Runtime) -> str:
    return (await account_with_key(runtime))[1]


async def test_a_fountain_script_as_json_and_its_repeats(
    client: httpx.AsyncClient, key: str
) -> None:
    sent = await client.post("/api/scripts", headers=bearer(key), json={"text": SHORT})
    assert sent.status_code == 201, sent.text
    script = sent.json()
    assert script["title"] == "Coffee Break" and script["status"] == "pending_validation"
    assert (script["scenes"], script["speeches"], script["source_format"]) == (2, 2, "fountain")
    assert script["characters"] == {"LEO": 1, "MAYA": 1}
    speech = next(e for e in script["structure"]["elements"] if e["type"] == "dialogue")
    assert speech["lines"] == [
        {"kind": "parenthetical", "text": "(tired)"},
        {"kind": "speech", "text": "Another one?"},
    ]
    again = await client.post(
        "/api/scripts", headers=bearer(key), json={"text": SHORT.replace("\n", "\r\n") + "\n\n"}
    )
    assert again.json()["duplicate_of"] == script["id"]  # the same text, other line endings
    assert again.json()["content_hash"] == script["content_hash"]
    read = await client.get(f"/api/scripts/{script['id']}", headers=bearer(key))
    assert read.status_code == 200 and read.json()["structure"] == script["structure"]


async def test_a_near_copy_is_flagged_and_an_unrelated_one_is_not(
    client: httpx.AsyncClient, key: str
) -> None:
    original = (
        await client.post("/api/scripts", headers=bearer(key), json={"text": feature(seed=11)})
    ).json()
    assert original["similar_to"] is None and original["speeches"] > 500
    copy = (
        feature(seed=11)
        .replace("EDWARD", "EDMUND")
        .replace("Title: **THE RIVER", "Title: **A RIVER")
    )
    flagged = (await client.post("/api/scripts", headers=bearer(key), json={"text": copy})).json()
    assert flagged["duplicate_of"] is None
    assert flagged["similar_to"] == original["id"] and flagged["similarity"] >= 0.5
    other = (
        await client.post("/api/scripts", headers=bearer(key), json={"text": feature(seed=12)})
    ).json()
    assert other["similar_to"] is None


async def test_files_fountain_and_laid_out_text(client: httpx.AsyncClient, key: str) -> None:
    fountain_file = await client.post(
        "/api/scripts",
        headers=bearer(key),
        files={"file": ("short.fountain", SHORT.encode("utf-8-sig"), "text/plain")},
        data={"title": "Coffee Break (file)"},
    )
    assert fountain_file.status_code == 201, fountain_file.text
    assert fountain_file.json()["title"] == "Coffee Break (file)"
    laid_out = await client.post(
        "/api/scripts",
        headers=bearer(key),
        files={"file": ("late.txt", LAID_OUT.encode(), "text/plain")},
        data={"title": "Late Shift"},
    )
    assert laid_out.status_code == 201, laid_out.text
    body = laid_out.json()
    assert body["source_format"] == "text"
    assert body["characters"] == {"EDWARD": 1, "SANDRA": 1}
    kinds = [e["type"] for e in body["structure"]["elements"]]
    assert kinds.count("scene_heading") == 1 and kinds.count("transition") == 1


async def test_listing_by_status_page_by_page(client: httpx.AsyncClient, key: str) -> None:
    first = (await client.get("/api/scripts?limit=2", headers=bearer(key))).json()
    assert len(first) == 2 and "structure" not in first[0]
    rest = (
        await client.get(
            "/api/scripts", headers=bearer(key), params={"before": first[-1]["created_at"]}
        )
    ).json()
    assert {s["id"] for s in rest}.isdisjoint(s["id"] for s in first)
    pending = (
        await client.get("/api/scripts?status=pending_validation", headers=bearer(key))
    ).json()
    assert pending and all(s["status"] == "pending_validation" for s in pending)
    selected = (await client.get("/api/scripts?status=selected", headers=bearer(key))).json()
    assert selected == []
    assert (await client.get("/api/scripts?status=nope", headers=bearer(key))).status_code == 422


@pytest.mark.parametrize(
    ("kwargs", "status", "slug"),
    [
        (
            {"files": {"file": ("s.pdf", b"%PDF-1.7\n%...", "application/pdf")}},
            422,
            "not-a-screenplay",
        ),
        (
            {"files": {"file": ("s.bin", bytes(range(256)) * 10, "application/octet-stream")}},
            422,
            "not-a-screenplay",
        ),
        (
            {"files": {"file": ("big.fountain", b"x" * (11 * 1024 * 1024), "text/plain")}},
            413,
            "payload-too-large",
        ),
        ({"json": {"text": "Title: Only a title\nAuthor: Me\n"}}, 422, "not-a-screenplay"),
        ({"json": {"text": "INT. HOUSE - DAY\n\nNobody.\n"}}, 422, "not-a-screenplay"),
        ({"json": {"text": "INT. HOUSE\x00 - DAY\n\nA.\n", "title": "T"}}, 422, "invalid-input"),
        ({"json": {"text": 42}}, 422, "invalid-input"),
        ({"json": {"text": SHORT, "format": "pdf"}}, 422, "invalid-input"),
        ({"json": {"text": ""}}, 422, "invalid-input"),
        (
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            422,
            "invalid-json",
        ),
        ({"data": {"title": "no file"}, "files": {"other": ("x", b"y")}}, 422, "no-file"),
    ],
)
async def test_what_is_refused(
    client: httpx.AsyncClient, key: str, kwargs: dict[str, object], status: int, slug: str
) -> None:
    headers = {**bearer(key), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    answer = await client.post("/api/scripts", headers=headers, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == status, answer.text
    assert answer.json()["type"] == f"/problems/{slug}"


async def test_scripts_need_a_key(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/scripts", json={"text": SHORT})).status_code == 401
    assert (await client.get("/api/scripts")).status_code == 401


async def test_an_unknown_script_is_404(client: httpx.AsyncClient, key: str) -> None:
    answer = await client.get(
        "/api/scripts/00000000-0000-0000-0000-000000000000", headers=bearer(key)
    )
    assert answer.status_code == 404 and answer.json()["type"] == "/problems/script-not-found"
