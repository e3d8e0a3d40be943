"""The camera page in a real browser (Debian's chromium), on a phone-sized screen: the live
stream, check-in with a Wallet Standard wallet of the visitor's own, enrolment refused without
consent (the error next to the control) and accepted with it, a photo and a recording that
appear in "my photos and videos", the gesture indicator, check-out."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.transaction import Transaction

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from tests.camera.conftest import CameraNode, running_node
from tests.web.test_browser import AXE, CHROMIUM, SCREENSHOTS, SOLANA_WALLET

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
playwright_async = pytest.importorskip("playwright.async_api")


@pytest.fixture(scope="module")
async def page_node(
    settings: Settings, runtime: Runtime, face_video: Path, database_url: str
) -> AsyncIterator[CameraNode]:
    async with running_node(settings, runtime, face_video, database_url, "page-camera") as n:
        yield n


async def test_check_in_enrol_photograph_record_and_leave_from_the_page(
    page_node: CameraNode,
) -> None:
    keypair = Keypair()

    def sign(transaction_b64: str) -> str:
        transaction = Transaction.from_bytes(base64.b64decode(transaction_b64))
        transaction.partial_sign([keypair], transaction.message.recent_blockhash)
        return base64.b64encode(bytes(transaction)).decode()

    async with playwright_async.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        await page.expose_function("__solanaSign", sign)
        await page.add_init_script(
            f"window.__solanaAddress = '{keypair.pubkey()}';" + SOLANA_WALLET
        )
        expect = playwright_async.expect
        await page.goto(page_node.camera + "/", wait_until="domcontentloaded")
        await expect(page.locator("#status")).to_contain_text("source live", timeout=30_000)
        stream = page.get_by_role("img", name="live stream of page-camera")
        await expect(stream).to_be_visible()
        assert await stream.evaluate("image => image.naturalWidth") == 640

        await page.get_by_role("button", name="Check in with a wallet").click()
        await expect(page.locator("#session")).to_contain_text(
            str(keypair.pubkey()), timeout=30_000
        )

        await page.get_by_role("button", name="Enrol my face").click()
        await expect(page.locator("#face-error")).to_contain_text("consent")
        await page.get_by_label("I agree that this camera keeps a template").check()
        await page.get_by_role("button", name="Enrol my face").click()
        await expect(page.locator("#face-state")).to_contain_text("enrolled until", timeout=30_000)
        await expect(page.locator("#face-error")).to_be_empty()

        await page.get_by_role("button", name="Take a photo").click()
        await expect(page.locator("#photos img")).to_have_count(1, timeout=30_000)
        await page.get_by_role("button", name="Record 10 s").click()
        await expect(page.locator("#videos video")).to_have_count(1, timeout=60_000)
        assert (
            await page.locator("#videos video").evaluate(
                "video => new Promise(done => video.readyState >= 1 ? done(video.duration) :"
                " video.addEventListener('loadedmetadata', () => done(video.duration)))"
            )
            > 5
        )
        await expect(page.locator("#gesture")).to_contain_text("Gesture:")

        await page.add_script_tag(path=str(AXE))
        violations = await page.evaluate(
            "async () => (await axe.run()).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)"
        )
        assert violations == []
        SCREENSHOTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "camera.png"))

        await page.get_by_role("button", name="Check out").click()
        await expect(page.get_by_role("button", name="Check in with a wallet")).to_be_visible()
        await expect(page.locator("#face")).to_be_hidden()
        await browser.close()
