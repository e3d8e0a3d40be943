"""PDF screenplays, rendered by two tools with different layouts (screenplain's PDF export,
and a page we lay out ourselves with reportlab: other margins, other font size), read into
the same structure; and the PDFs that are refused (encrypted, malformed, not a screenplay,
too large)."""

from __future__ import annotations

import io

import httpx
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from atelier.core.runtime import Runtime
from tests.films.test_scripts_api import SHORT
from tests.grid.helpers import account_with_key
from tests.helpers import bearer


@pytest.fixture(scope="module")
async def key(runtime: Runtime) -> str:
    return (await account_with_key(runtime))[1]


def _screenplain_pdf() -> bytes:
    fountain = pytest.importorskip("screenplain.parsers.fountain")
    export = pytest.importorskip("screenplain.export.pdf")
    out = io.BytesIO()
    export.to_pdf(fountain.parse(io.StringIO(SHORT)), out)
    return out.getvalue()


def _our_layout_pdf(lines: list[tuple[float, str]], title: str | None = None) -> bytes:
    """A page laid out by hand: (indent in points from the margin, text), 11 pt Courier."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    if title:
        page.setTitle(title)
    page.setFont("Courier", 11)
    y = 800.0
    for indent, text in lines:
        if text:
            page.drawString(54 + indent, y, text)
        y -= 13
    page.save()
    return out.getvalue()


OURS = [
    (0, "INT. LIGHTHOUSE - NIGHT"),
    (0, ""),
    (0, "Waves. A lamp turns."),
    (0, ""),
    (150, "KEEPER"),
    (110, "(to the sea)"),
    (80, "Not tonight."),
    (0, ""),
    (150, "GULL (V.O.)"),
    (80, "Every night."),
    (0, ""),
    (330, "CUT TO:"),
    (0, ""),
    (0, "EXT. ROCKS - DAWN"),
    (0, ""),
    (0, "Calm."),
]


async def _submit(client: httpx.AsyncClient, key: str, data: bytes, **form: str) -> httpx.Response:
    return await client.post(
        "/api/scripts",
        headers=bearer(key),
        files={"file": ("script.pdf", data, "application/pdf")},
        data=form,
    )


async def test_two_tools_two_layouts_one_structure(client: httpx.AsyncClient, key: str) -> None:
    theirs = await _submit(client, key, _screenplain_pdf(), title="Coffee Break (PDF)")
    assert theirs.status_code == 201, theirs.text
    body = theirs.json()
    assert body["source_format"] == "pdf"
    assert (body["scenes"], body["characters"]) == (2, {"LEO": 1, "MAYA": 1})
    maya = next(e for e in body["structure"]["elements"] if e.get("character") == "MAYA")
    assert [line["kind"] for line in maya["lines"]] == ["parenthetical", "speech"]

    ours = await _submit(client, key, _our_layout_pdf(OURS, title="The Keeper"))
    assert ours.status_code == 201, ours.text
    body = ours.json()
    assert body["title"] == "The Keeper"  # from the PDF's metadata
    kinds = [e["type"] for e in body["structure"]["elements"]]
    assert kinds == [
        "scene_heading",
        "action",
        "dialogue",
        "dialogue",
        "transition",
        "scene_heading",
        "action",
    ]
    keeper, gull = (e for e in body["structure"]["elements"] if e["type"] == "dialogue")
    assert (keeper["character"], keeper["lines"][0]["text"], keeper["lines"][1]["text"]) == (
        "KEEPER",
        "(to the sea)",
        "Not tonight.",
    )
    assert (gull["character"], gull["extension"]) == ("GULL", "V.O.")


async def test_pdfs_that_are_refused(client: httpx.AsyncClient, key: str) -> None:
    import pypdf

    letter = _our_layout_pdf(
        [(0, "Dear Sir,"), (0, ""), (0, "Thank you for your letter."), (0, "Regards")], "A letter"
    )
    encrypted = io.BytesIO()
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(_our_layout_pdf(OURS, "Locked")))
    writer.encrypt("secret")
    writer.write(encrypted)
    for data, said in (
        (letter, "does not read as a screenplay"),
        (encrypted.getvalue(), "encrypted"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 40, "cannot be read"),
        (b"%PDF-", "cannot be read"),
    ):
        answer = await _submit(client, key, data, title="x")
        assert answer.status_code == 422, answer.text
        assert answer.json()["type"] == "/problems/not-a-screenplay"
        assert said in answer.json()["detail"]


async def test_a_fifty_megabyte_upload_is_refused_before_it_is_read(
    client: httpx.AsyncClient, key: str
) -> None:
    answer = await _submit(client, key, b"%PDF-1.7\n" + b"0" * (50 * 1024 * 1024))
    assert answer.status_code == 413
