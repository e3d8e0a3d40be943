"""The dashboard in a real browser: Debian's chromium driven by Playwright against a real
`atelier serve` process, on a phone-sized screen. Every page visited is checked with axe-core
(no serious or critical violations) and photographed into tests/web/screenshots/ (kept out of
git)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atelier.economy.signatures import stripe_signature
from atelier.social import farcaster
from tests.helpers import STRONG_PASSWORD, unique_email, verification_token_for
from tests.servers import atelier_env, running_server, start_worker, stop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = Path(__file__).parent / "vendor" / "axe-core-axe.min.js"
SCREENSHOTS = Path(__file__).parent / "screenshots"
STRIPE = "whsec_browser_" + "e" * 24

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)"
)

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`atelier serve grid governance` (the dashboard's service, and the chain's routes) and
    an `atelier tasks` (emails, chain ticks). The server holds the embedded chain; the task
    worker reaches it over the server's /chain/rpc, as a second process must (otherwise the
    first of the two to touch the chain would lock the other out)."""
    home = tmp_path_factory.mktemp("site")
    limits = {
        "ATELIER_RATE_LIMIT_AUTH": "1000/minute",
        "ATELIER_STRIPE_WEBHOOK_SECRET": STRIPE,
        "ATELIER_MARKET_AUCTION_EXTENSION_S": "120",
    }
    with (
        running_server(home, database_url, ["grid", "governance"], **limits) as url,
        (home / "tasks.log").open("wb") as log,
    ):
        chain = httpx.get(f"{url}/api/chain", timeout=60).json()
        tasks = subprocess.Popen(
            [sys.executable, "-m", "atelier", "tasks"],
            env=atelier_env(
                home,
                database_url,
                ATELIER_CHAIN_RPC_URL=chain["rpc_url"],
                ATELIER_CHAIN_TOKEN_ADDRESS=chain["token"],
                ATELIER_CHAIN_VOTING_ADDRESS=chain["voting"],
                ATELIER_SOLANA_RPC_URL=httpx.get(f"{url}/api/solana", timeout=60).json()["rpc_url"],
                ATELIER_PUBLIC_URL=url,  # where the embedded Farcaster hub is served
                **limits,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield url, home
        finally:
            stop(tasks)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    # axe is injected as a script, which the site's CSP would refuse (it allows only the
    # site's own files); tests/web/test_pages_smoke.py checks that policy is sent.
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844}, bypass_csp=True
    )
    opened = context.new_page()
    yield opened
    context.close()


def checked(page: object, name: str) -> None:
    """axe-core finds no serious or critical violation; the page is photographed."""
    page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    violations = page.evaluate(  # type: ignore[attr-defined]
        "async () => (await axe.run()).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    assert violations == [], f"{name}: {violations}"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_register_verify_sign_in_and_manage_keys(site: tuple[str, Path], page: object) -> None:
    url, home = site
    expect = playwright_sync.expect
    address = unique_email("browser")
    p = page  # the browser tab (Playwright's Page)

    p.goto(f"{url}/")  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Atelier", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "home")

    p.get_by_role("navigation").get_by_role("link", name="Register").click()  # type: ignore[attr-defined]
    p.get_by_label("Email").fill(address)  # type: ignore[attr-defined]
    p.get_by_label("Password").fill("short")  # type: ignore[attr-defined]
    p.get_by_label("Display name (optional)").fill("Ada")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Register").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-password")).to_contain_text("at least")  # type: ignore[attr-defined]
    expect(p.get_by_label("Email")).to_have_value(address)  # type: ignore[attr-defined]
    expect(p.get_by_label("Display name (optional)")).to_have_value("Ada")  # type: ignore[attr-defined]
    checked(p, "register-error")

    p.get_by_label("Password").fill(STRONG_PASSWORD)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Register").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Check your email")).to_be_visible()  # type: ignore[attr-defined]

    token = _emailed_token(home / "mailbox", address)
    p.goto(f"{url}/verify-email?token={token}")  # type: ignore[attr-defined]
    checked(p, "verify")
    p.get_by_role("button", name="Verify my address").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Your address is verified")).to_be_visible()  # type: ignore[attr-defined]

    p.get_by_role("main").get_by_role("link", name="sign in").click()  # type: ignore[attr-defined]
    p.get_by_label("Email").fill(address)  # type: ignore[attr-defined]
    p.get_by_label("Password").fill(STRONG_PASSWORD + "x")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Sign in", exact=True).click()  # type: ignore[attr-defined]
    expect(p.get_by_role("alert")).to_contain_text("email or password is wrong")  # type: ignore[attr-defined]
    p.get_by_label("Password").fill(STRONG_PASSWORD)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Sign in", exact=True).click()  # type: ignore[attr-defined]

    expect(p.get_by_role("heading", name="Your dashboard")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.locator("#quota-used")).to_have_text("0")  # type: ignore[attr-defined]
    expect(p.get_by_role("navigation").get_by_role("link", name="Dashboard")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "dashboard")

    p.get_by_label("New key's name").fill("laptop")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create key").click()  # type: ignore[attr-defined]
    shown = p.locator("#new-key").inner_text()  # type: ignore[attr-defined]
    assert len(shown) > 20
    p.goto(f"{url}/dashboard")  # type: ignore[attr-defined]
    expect(p.locator("#new-key")).to_have_count(0)  # shown once  # type: ignore[attr-defined]
    expect(p.get_by_role("cell", name="laptop", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Revoke laptop").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("cell", name="revoked", exact=True)).to_be_visible()  # type: ignore[attr-defined]

    wallet = _browser_wallet(p)
    p.reload()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Link your browser wallet").click()  # type: ignore[attr-defined]
    expect(p.get_by_text(wallet.address)).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_role("button", name=f"Unlink {wallet.address}").click()  # type: ignore[attr-defined]
    expect(p.get_by_text(wallet.address)).to_have_count(0)  # type: ignore[attr-defined]

    p.get_by_label("Display name").fill("Ada L.")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    expect(p.locator(".who")).to_have_text("Ada L.")  # type: ignore[attr-defined]

    p.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()  # type: ignore[attr-defined]
    p.goto(f"{url}/dashboard")  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Sign in")).to_be_visible()  # type: ignore[attr-defined]


def _signed_in_member(page: object, url: str, home: Path) -> str:
    """Register, verify and sign in through the pages; the new member's address."""
    address = unique_email("member")
    p = page
    p.goto(f"{url}/register")  # type: ignore[attr-defined]
    p.get_by_label("Email").fill(address)  # type: ignore[attr-defined]
    p.get_by_label("Password").fill(STRONG_PASSWORD)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Register").click()  # type: ignore[attr-defined]
    playwright_sync.expect(p.get_by_role("heading", name="Check your email")).to_be_visible()  # type: ignore[attr-defined]
    p.goto(f"{url}/verify-email?token={_emailed_token(home / 'mailbox', address)}")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Verify my address").click()  # type: ignore[attr-defined]
    p.goto(f"{url}/sign-in")  # type: ignore[attr-defined]
    p.get_by_label("Email").fill(address)  # type: ignore[attr-defined]
    p.get_by_label("Password").fill(STRONG_PASSWORD)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Sign in", exact=True).click()  # type: ignore[attr-defined]
    playwright_sync.expect(p.get_by_role("heading", name="Your dashboard")).to_be_visible()  # type: ignore[attr-defined]
    return address


def _promote_and_sign_in_again(
    page: object, url: str, home: Path, database_url: str, address: str, role: str
) -> None:
    """`atelier user promote` (the operator's command), then a new sign-in: the session's
    roles are the ones it was signed in with."""
    promoted = subprocess.run(
        [sys.executable, "-m", "atelier", "user", "promote", address, role],
        env=atelier_env(home, database_url),
        capture_output=True,
        check=False,
    )
    assert promoted.returncode == 0, promoted.stderr
    p = page
    p.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    p.goto(f"{url}/sign-in")  # type: ignore[attr-defined]
    p.get_by_label("Email").fill(address)  # type: ignore[attr-defined]
    p.get_by_label("Password").fill(STRONG_PASSWORD)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Sign in", exact=True).click()  # type: ignore[attr-defined]
    playwright_sync.expect(p.get_by_role("heading", name="Your dashboard")).to_be_visible()  # type: ignore[attr-defined]


def test_submit_a_music_job_watch_it_and_hear_it(
    site: tuple[str, Path], page: object, tmp_path: Path
) -> None:
    """A member runs a worker with a key made on the dashboard, submits a music job, watches
    it finish live and plays the signed WAV in the page."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.get_by_label("New key's name").fill("rig")  # type: ignore[attr-defined]
    p.get_by_label("Scope").select_option("worker")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create key").click()  # type: ignore[attr-defined]
    key = p.locator("#new-key").inner_text().strip()  # type: ignore[attr-defined]
    worker = start_worker(home, url, key, "browser-rig", "--kinds", "music")
    try:
        p.get_by_role("navigation").get_by_role("link", name="Jobs").click()  # type: ignore[attr-defined]
        p.get_by_label("Kind").select_option("music")  # type: ignore[attr-defined]
        p.get_by_label("Duration in seconds (music, video)").fill("0")  # type: ignore[attr-defined]
        p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
        expect(p.locator("#e-prompt")).to_be_visible()  # type: ignore[attr-defined]
        expect(p.locator("#e-duration_s")).to_be_visible()  # type: ignore[attr-defined]
        checked(p, "jobs-error")
        p.get_by_label("Prompt (for speech: the text to say)").fill("lofi rain on a tin roof")  # type: ignore[attr-defined]
        p.get_by_label("Duration in seconds (music, video)").fill("1")  # type: ignore[attr-defined]
        p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
        expect(p.locator("#job-state")).to_have_text("done", timeout=90_000)  # type: ignore[attr-defined]
        expect(p.locator("#result-c2pa")).to_contain_text("signed")  # type: ignore[attr-defined]
        expect(p.locator("#result-cid")).to_contain_text("baf")  # type: ignore[attr-defined]
        duration = p.evaluate(  # type: ignore[attr-defined]
            "async () => { const a = document.getElementById('result-audio');"
            " await a.play(); return a.duration; }"
        )
        assert 0.5 < duration < 2.0  # the WAV decoded and plays in the browser
        checked(p, "job-done")
        # a cancel from a page left open while the job finished: said on the page
        token = next(c["value"] for c in p.context.cookies() if c["name"] == "atelier_csrf")  # type: ignore[attr-defined]
        late = p.request.post(  # type: ignore[attr-defined]
            p.url + "/cancel", form={"csrf": token}, headers={"Origin": url}
        )
        assert late.status == 409 and "the job is already done" in late.text()
        assert "text/html" in late.headers["content-type"]
        signed_wav = tmp_path / "result.wav"
        file_url = p.locator("#result-audio").get_attribute("src")  # type: ignore[attr-defined]
        signed_wav.write_bytes(p.request.get(f"{url}{file_url}").body())  # type: ignore[attr-defined]

        p.get_by_role("navigation").get_by_role("link", name="Verify").click()  # type: ignore[attr-defined]
        p.get_by_label("A file (PNG, JPEG, OpenEXR, WAV, MP4)").set_input_files(str(signed_wav))  # type: ignore[attr-defined]
        p.get_by_role("button", name="Verify").click()  # type: ignore[attr-defined]
        expect(p.locator("#manifest-state")).to_contain_text("Trusted")  # type: ignore[attr-defined]
        expect(p.locator("#report-known")).to_contain_text("signed")  # type: ignore[attr-defined]
        checked(p, "verify-file")
        p.goto(f"{url}/jobs")  # type: ignore[attr-defined]
        expect(p.get_by_role("cell", name="done", exact=True)).to_be_visible()  # type: ignore[attr-defined]
        checked(p, "jobs")
    finally:
        stop(worker)


def test_the_jobs_list_follows_a_job_live(site: tuple[str, Path], page: object) -> None:
    """The jobs page, left open, shows a job's new state the moment it changes (pushed over
    the realtime WebSocket, no reload)."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.goto(f"{url}/jobs")  # type: ignore[attr-defined]
    p.get_by_label("Kind").select_option("speech")  # type: ignore[attr-defined]
    p.get_by_label("Prompt (for speech: the text to say)").fill("nobody runs speech here")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
    expect(p.locator("#job-state")).to_have_text("queued")  # type: ignore[attr-defined]
    job_url = p.url  # type: ignore[attr-defined]
    p.goto(f"{url}/jobs")  # type: ignore[attr-defined]
    expect(p.locator("html[data-live=connected]")).to_have_count(1)  # type: ignore[attr-defined]
    row = p.locator(f"tr[data-live-id='{job_url.rsplit('/', 1)[1]}']")  # type: ignore[attr-defined]
    expect(row.locator("[data-live-field=state]")).to_have_text("queued")
    token = next(c["value"] for c in p.context.cookies() if c["name"] == "atelier_csrf")  # type: ignore[attr-defined]
    cancelled = p.request.post(job_url + "/cancel", form={"csrf": token}, headers={"Origin": url})  # type: ignore[attr-defined]
    assert cancelled.ok
    expect(row.locator("[data-live-field=state]")).to_have_text("cancelled")
    checked(p, "jobs-live")


def test_propose_vote_with_a_held_wallet_and_see_the_tally(
    site: tuple[str, Path], page: object
) -> None:
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.get_by_role("button", name="Create a wallet held by Atelier").click()  # type: ignore[attr-defined]
    expect(p.get_by_text("held by Atelier)")).to_be_visible()  # type: ignore[attr-defined]

    p.get_by_role("navigation").get_by_role("link", name="Vote").click()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Propose").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-title")).to_be_visible()  # the API's message beside the title  # type: ignore[attr-defined]
    p.get_by_label("Title").fill("Paint the studio blue?")  # type: ignore[attr-defined]
    p.get_by_label("What is proposed").fill("Blue walls, white floor.")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Propose").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Paint the studio blue?")).to_be_visible()  # type: ignore[attr-defined]

    p.get_by_label("Reason (optional, public)").fill("calmer light")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Sign and vote").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-choice")).to_be_visible()  # no choice made: said beside it  # type: ignore[attr-defined]
    expect(p.get_by_label("Reason (optional, public)")).to_have_value("calmer light")  # type: ignore[attr-defined]
    p.get_by_role("radio", name="approve").check()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Sign and vote").click()  # type: ignore[attr-defined]
    expect(p.locator("#tally-approve")).to_contain_text("approve: 1")  # type: ignore[attr-defined]
    expect(p.locator("#tally-chart rect[data-choice=approve]")).to_have_attribute("width", "100.0")  # type: ignore[attr-defined]
    expect(p.get_by_text("“calmer light”")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "voting")
    p.get_by_role("navigation").get_by_role("link", name="Vote").click()  # type: ignore[attr-defined]
    checked(p, "proposals")


def test_pick_a_truck_style_and_make_its_music(site: tuple[str, Path], page: object) -> None:
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.get_by_role("navigation").get_by_role("link", name="Music").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("link", name="create or link one")).to_be_visible()  # type: ignore[attr-defined]
    p.goto(f"{url}/dashboard")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create a wallet held by Atelier").click()  # type: ignore[attr-defined]
    p.goto(f"{url}/music")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Choose").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-truck_style")).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_role("radio", name="graffiti").check()  # type: ignore[attr-defined]
    p.get_by_label("Mood (optional: e.g. upbeat, calm)").fill("upbeat")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Choose").click()  # type: ignore[attr-defined]
    expect(p.locator("#music-genre")).to_have_text("hip-hop")  # type: ignore[attr-defined]
    checked(p, "music")
    p.get_by_role("button", name="Make a hip-hop track").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Music job")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_text("upbeat hip-hop track")).to_be_visible()  # type: ignore[attr-defined]


# A browser wallet (EIP-1193) as the page sees one: `window.ethereum.request`. Its key is a
# real secp256k1 key held by the test (eth-account signs, as MetaMask would).
PROVIDER = """
window.ethereum = {
  isTestWallet: true,
  request: async ({method, params}) => {
    if (method === "eth_requestAccounts") return [window.__walletAddress];
    if (method === "eth_chainId") return "0x1";
    if (method === "personal_sign") return await window.__walletSign(params[0]);
    if (method === "eth_signTypedData_v4") return await window.__walletSignTyped(params[1]);
    throw new Error("unsupported: " + method);
  },
};
"""


def _browser_wallet(page: object) -> Any:
    """Give the page a browser wallet (before it loads); the wallet's account."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    account = Account.create()

    def sign(message_hex: str) -> str:
        signed = Account.sign_message(encode_defunct(hexstr=message_hex), account.key)
        return "0x" + bytes(signed.signature).hex()

    def sign_typed(typed_json: str) -> str:
        signed = Account.sign_typed_data(account.key, full_message=json.loads(typed_json))
        return "0x" + bytes(signed.signature).hex()

    page.expose_function("__walletSign", sign)  # type: ignore[attr-defined]
    page.expose_function("__walletSignTyped", sign_typed)  # type: ignore[attr-defined]
    page.add_init_script(f"window.__walletAddress = '{account.address.lower()}';" + PROVIDER)  # type: ignore[attr-defined]
    return account


def test_sign_in_with_a_browser_wallet(site: tuple[str, Path], page: object) -> None:
    """No password: the page asks the wallet, which signs the EIP-4361 message; the first
    sign-in makes the account, whose dashboard lists the wallet."""
    url, _ = site
    expect = playwright_sync.expect
    p = page
    account = _browser_wallet(p)
    p.goto(f"{url}/sign-in")  # type: ignore[attr-defined]
    checked(p, "sign-in")
    p.get_by_role("button", name="Sign in with your wallet").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Your dashboard")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_text(account.address)).to_be_visible()  # type: ignore[attr-defined]

    # the same wallet votes on a proposal: EIP-712 typed data signed in the wallet
    p.goto(f"{url}/proposals")  # type: ignore[attr-defined]
    p.get_by_label("Title").fill("Open the studio on Sundays?")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Propose").click()  # type: ignore[attr-defined]
    p.get_by_role("radio", name="reject").check()  # type: ignore[attr-defined]
    p.get_by_label("Reason (optional, public)").fill("rest day")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Sign with your browser wallet").click()  # type: ignore[attr-defined]
    expect(p.locator("#tally-reject")).to_contain_text("reject: 1")  # type: ignore[attr-defined]
    expect(p.get_by_text("“rest day”")).to_be_visible()  # type: ignore[attr-defined]


def test_a_development_wallet_where_the_browser_has_none(
    site: tuple[str, Path], page: object
) -> None:
    """A local Atelier (embedded chain, no public URL) offers a wallet it holds."""
    url, _ = site
    p = page
    p.goto(f"{url}/sign-in")  # type: ignore[attr-defined]
    playwright_sync.expect(p.locator("#wallet-status")).to_contain_text("No browser wallet")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Use a development wallet").click()  # type: ignore[attr-defined]
    playwright_sync.expect(p.get_by_role("heading", name="Your dashboard")).to_be_visible()  # type: ignore[attr-defined]
    playwright_sync.expect(p.get_by_text("held by Atelier)")).to_be_visible()  # type: ignore[attr-defined]


def test_grid_page(site: tuple[str, Path], page: object) -> None:
    url, _ = site
    page.goto(f"{url}/grid")  # type: ignore[attr-defined]
    playwright_sync.expect(page.locator("#fig-queued")).to_be_visible()  # type: ignore[attr-defined]
    # the music job of an earlier test counts (tests run in order, on one site)
    playwright_sync.expect(page.locator("#fig-done")).not_to_have_text("0")  # type: ignore[attr-defined]
    playwright_sync.expect(page.get_by_role("cell", name="browser-rig")).to_be_visible()  # type: ignore[attr-defined]
    checked(page, "grid")


def test_transparency_and_earnings(site: tuple[str, Path], page: object) -> None:
    """A signed Stripe donation and the earlier tests' accepted jobs show on the public
    page, projected for this month; a bad month is said next to the month field."""
    url, home = site
    expect = playwright_sync.expect
    body = json.dumps(
        {
            "id": "evt_browser",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_browser", "amount_received": 4_200, "currency": "usd"}},
        }
    ).encode()
    t = int(time.time())
    answer = httpx.post(
        f"{url}/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": f"t={t},v1={stripe_signature(STRIPE, t, body)}"},
    )
    assert answer.json()["outcome"] == "applied", answer.text
    p = page
    p.goto(f"{url}/")  # type: ignore[attr-defined]
    p.get_by_role("navigation").get_by_role("link", name="Transparency").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Where every donated cent goes")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.locator("#donations")).to_contain_text("42.00 USD")  # type: ignore[attr-defined]
    expect(p.locator("#shares")).to_contain_text("browser-rig")  # type: ignore[attr-defined]
    expect(p.locator("#donations-USD")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "transparency")
    p.goto(f"{url}/transparency?month=2026-13")  # type: ignore[attr-defined]
    expect(p.locator("#e-month")).to_contain_text("is not a month")  # type: ignore[attr-defined]
    checked(p, "transparency-error")
    _signed_in_member(p, url, home)
    p.get_by_role("link", name="your earnings").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Your earnings")).to_be_visible()  # type: ignore[attr-defined]
    expect(p).to_have_title(re.compile(r"^Your earnings"))  # type: ignore[attr-defined]
    expect(p.get_by_text("No earnings yet")).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_label("Stripe Connect account").fill("https://evil.example")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-destination")).to_contain_text("is not a stripe-connect account")  # type: ignore[attr-defined]
    checked(p, "earnings-error")
    p.get_by_label("Stripe Connect account").fill("acct_1Browser42")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    expect(p.locator("#account-saved")).to_contain_text("acct_1Browser42")  # type: ignore[attr-defined]
    checked(p, "earnings")


SCREENPLAY = (
    "Title: Coffee Break\nAuthor: Jo\n\nINT. OFFICE - DAY\n\nRain on glass.\n\n"
    "MAYA\n(tired)\nAnother one?\n\nLEO (O.S.)\nAlways.\n\nCUT TO:\n\nEXT. STREET - NIGHT\n\n"
    "They walk.\n"
)


def test_submit_a_screenplay_and_score_it(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """A writer submits a screenplay on the portal (an empty form is said to be empty); a
    validator scores it on the rubric and sees the scores."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.get_by_role("navigation").get_by_role("link", name="Films").click()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-text")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "films-error")
    p.get_by_label("Or paste it (Fountain)").fill(SCREENPLAY)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Coffee Break")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="INT. OFFICE - DAY")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.locator(".cue").first).to_have_text("MAYA")  # type: ignore[attr-defined]
    script_url = p.url  # type: ignore[attr-defined]
    checked(p, "films-script")
    p.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]

    validator = _signed_in_member(p, url, home)
    _promote_and_sign_in_again(p, url, home, database_url, validator, "validator")
    p.goto(script_url)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save my scores").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-story")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "films-rubric-error")
    for criterion, value in zip(
        ("Story", "Characters", "Dialogue", "Structure", "Originality", "Feasibility"),
        ("8", "7", "9", "6", "7", "8"),
        strict=True,
    ):
        p.get_by_label(f"{criterion} (1-10)").select_option(value)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save my scores").click()  # type: ignore[attr-defined]
    expect(p.locator("#score-note")).to_contain_text("1 validation")  # type: ignore[attr-defined]
    expect(p.locator("#scores")).to_contain_text("9.00")  # type: ignore[attr-defined]
    checked(p, "films-scored")
    missing = p.goto(f"{url}/films/scripts/00000000-0000-0000-0000-000000000000")  # type: ignore[attr-defined]
    assert missing.status == 404
    expect(p.get_by_role("heading", name="Not found")).to_be_visible()  # type: ignore[attr-defined]


def test_film_a_script_and_watch_it_with_subtitles(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """An admin plans a script's film (a bad size is said next to its field), sees the plan
    and its cost, starts it, follows it live while a worker makes it, and watches it with
    its subtitle track."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    producer = _signed_in_member(p, url, home)
    p.get_by_label("New key's name").fill("film rig")  # type: ignore[attr-defined]
    p.get_by_label("Scope").select_option("worker")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create key").click()  # type: ignore[attr-defined]
    key = p.locator("#new-key").inner_text().strip()  # type: ignore[attr-defined]
    _promote_and_sign_in_again(p, url, home, database_url, producer, "admin")
    p.goto(f"{url}/films")  # type: ignore[attr-defined]
    story = SCREENPLAY.replace("Coffee Break", "Tea Break").replace("Always.", "Every day.")
    p.get_by_label("Or paste it (Fountain)").fill(story)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Tea Break")).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_label("Width (px)").fill("100")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Plan and cost a film").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-width")).to_contain_text("multiple of 8")  # type: ignore[attr-defined]
    checked(p, "films-film-error")
    p.get_by_label("Width (px)").fill("256")  # type: ignore[attr-defined]
    p.get_by_label("Height (px)").fill("144")  # type: ignore[attr-defined]
    p.get_by_label("Seconds per shot").fill("2")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Plan and cost a film").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Plan and cost")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.locator("#movie-status")).to_have_text("estimated")  # type: ignore[attr-defined]
    expect(p.locator("#plan")).to_contain_text("speech")  # type: ignore[attr-defined]
    checked(p, "films-movie-plan")
    worker = start_worker(home, url, key, "film-rig")
    try:
        p.get_by_role("button", name="Start the film").click()  # type: ignore[attr-defined]
        expect(p.locator("#movie-steps")).to_contain_text("submit")  # type: ignore[attr-defined]
        expect(p.locator("#watch-now")).to_be_visible(timeout=180_000)  # type: ignore[attr-defined]
    finally:
        stop(worker)
    p.reload()  # type: ignore[attr-defined]
    expect(p.locator("#player")).to_be_visible()  # type: ignore[attr-defined]
    playable = p.evaluate(  # type: ignore[attr-defined]
        """async () => {
            const video = document.querySelector('#player');
            if (video.readyState < 1) {
                await new Promise(r => video.addEventListener('loadedmetadata', r, {once: true}));
            }
            const track = video.textTracks[0];
            track.mode = 'showing';
            await new Promise(r => setTimeout(r, 500));
            return {duration: video.duration, width: video.videoWidth, kind: track.kind,
                    cues: track.cues ? track.cues.length : 0};
        }"""
    )
    assert playable["width"] == 256 and playable["duration"] > 4, playable
    assert playable["kind"] == "subtitles" and playable["cues"] >= 2, playable
    expect(p.locator("#movie-cid")).not_to_have_text("—")  # type: ignore[attr-defined]
    checked(p, "films-movie-watch")


def _emailed_token(mailbox: Path, address: str) -> str:
    import time

    deadline = time.monotonic() + 30  # the email is sent by the server's task worker
    while True:
        try:
            return verification_token_for(mailbox, address)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


SOLANA_WALLET = """
(function () {
  const wallet = {
    version: "1.0.0", name: "Test Wallet", icon: "data:image/svg+xml;base64,PHN2Zy8+",
    chains: ["solana:atelier-embedded"], accounts: [],
    features: {
      "standard:connect": { version: "1.0.0", connect: async () => {
        const account = { address: window.__solanaAddress, publicKey: new Uint8Array(32),
                          chains: ["solana:atelier-embedded"], features: [] };
        wallet.accounts = [account];
        return { accounts: [account] };
      } },
      "solana:signTransaction": { version: "1.0.0", supportedTransactionVersions: ["legacy"],
        signTransaction: async (...inputs) => Promise.all(inputs.map(async (input) => {
          let text = ""; input.transaction.forEach((b) => { text += String.fromCharCode(b); });
          const signed = atob(await window.__solanaSign(btoa(text)));
          return { signedTransaction: Uint8Array.from(signed, (c) => c.charCodeAt(0)) };
        })) },
    },
  };
  const register = ({ register }) => register(wallet);
  window.addEventListener("wallet-standard:app-ready", (event) => register(event.detail));
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", { detail: register }));
})();
"""


def _solana_wallet(page: object, url: str) -> str:
    """A Wallet Standard wallet of the visitor's own in the page (it signs with a key only
    the test holds), funded from the development faucet; its address."""
    import base64

    from solders.keypair import Keypair
    from solders.transaction import Transaction

    keypair = Keypair()

    def sign(transaction_b64: str) -> str:
        transaction = Transaction.from_bytes(base64.b64decode(transaction_b64))
        transaction.partial_sign([keypair], transaction.message.recent_blockhash)
        return base64.b64encode(bytes(transaction)).decode()

    page.expose_function("__solanaSign", sign)  # type: ignore[attr-defined]
    page.add_init_script(f"window.__solanaAddress = '{keypair.pubkey()}';" + SOLANA_WALLET)  # type: ignore[attr-defined]
    funded = httpx.post(
        f"{url}/solana/rpc",
        json={"id": 1, "method": "requestAirdrop", "params": [str(keypair.pubkey()), 10 * 10**9]},
        timeout=30,
    ).json()
    assert "result" in funded, funded
    return str(keypair.pubkey())


def _make_artifact(p: object, url: str, home: Path) -> None:
    """A worker of the member's own makes an image on the jobs page."""
    expect = playwright_sync.expect
    p.get_by_label("New key's name").fill("market rig")  # type: ignore[attr-defined]
    p.get_by_label("Scope").select_option("worker")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create key").click()  # type: ignore[attr-defined]
    key = p.locator("#new-key").inner_text().strip()  # type: ignore[attr-defined]
    worker = start_worker(home, url, key, "market-rig", "--kinds", "image")
    try:
        for prompt in ("a lighthouse at dusk", "a harbour at dawn", "a boat in fog"):
            p.goto(f"{url}/jobs")  # type: ignore[attr-defined]
            p.get_by_label("Kind").select_option("image")  # type: ignore[attr-defined]
            p.get_by_label("Prompt (for speech: the text to say)").fill(prompt)  # type: ignore[attr-defined]
            p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
            expect(p.locator("#job-state")).to_have_text("done", timeout=90_000)  # type: ignore[attr-defined]
            expect(p.locator("#result-c2pa")).to_contain_text("signed")  # type: ignore[attr-defined]
    finally:
        stop(worker)


def _mint_and_list(p: object, name: str, *, kind: str = "fixed", **fields: str) -> str:
    """From the studio page: an NFT draft of the next artifact, minted, listed; the listing's
    address."""
    expect = playwright_sync.expect
    p.get_by_label("NFT name (at most 32 bytes)").fill(name)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Make the NFT draft").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name=name)).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Mint the NFT").click()  # type: ignore[attr-defined]
    expect(p.locator("#nft-mint")).not_to_have_text("not minted")  # type: ignore[attr-defined]
    p.get_by_label("How").select_option(kind)  # type: ignore[attr-defined]
    for label, value in fields.items():
        p.get_by_label(label).fill(value)  # type: ignore[attr-defined]
    p.get_by_role("button", name="List it").click()  # type: ignore[attr-defined]
    expect(p.locator("#listing-status")).to_have_text("active")  # type: ignore[attr-defined]
    return str(p.url)  # type: ignore[attr-defined]


def test_a_studio_mints_lists_and_sells_on_solana(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """The market's done-when, in the browser: a creator makes a studio and a collection
    from their generated artifacts, mints and lists; another member buys through the page
    with the wallet Atelier holds; a wallet of the visitor's own buys through the Blink;
    an auction extended by a late bid settles; the amounts are the chain's."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    _make_artifact(p, url, home)
    p.goto(f"{url}/market")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Make my market wallet").click()  # type: ignore[attr-defined]
    expect(p.locator("#market-balance")).to_contain_text("20 SOL")  # type: ignore[attr-defined]
    creator_wallet = p.locator("#market-wallet").inner_text()  # type: ignore[attr-defined]
    p.get_by_label("New studio's name").fill("Lighthouse Works")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create the studio").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Lighthouse Works")).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_label("Name (at most 32 bytes)").fill("x" * 40)  # type: ignore[attr-defined]
    p.get_by_label("Symbol (at most 10 bytes)").fill("LHT")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create the collection").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-name")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "market-studio-error")
    p.get_by_label("Name (at most 32 bytes)").fill("Lighthouses")  # type: ignore[attr-defined]
    p.get_by_label("Royalty on resales, %").fill("5")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create the collection").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Lighthouses")).to_be_visible()  # type: ignore[attr-defined]
    studio = p.get_by_role("link", name="Lighthouse Works").get_attribute("href")  # type: ignore[attr-defined]
    p.goto(f"{url}{studio}")  # type: ignore[attr-defined]
    checked(p, "market-studio")
    first = _mint_and_list(p, "Lighthouse #1", **{"Price, SOL (fixed)": "1.5"})
    checked(p, "market-listing")
    p.get_by_label("New price, SOL").fill("0")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Change the price").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-price")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "market-reprice-error")
    p.get_by_label("New price, SOL").fill("1.75")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Change the price").click()  # type: ignore[attr-defined]
    expect(p.locator("#current-price")).to_have_text("1.75 SOL")  # type: ignore[attr-defined]
    p.goto(f"{url}{studio}")  # type: ignore[attr-defined]
    p.get_by_label("Artifact", exact=True).select_option(index=1)  # type: ignore[attr-defined]
    second = _mint_and_list(p, "Lighthouse #2", **{"Price, SOL (fixed)": "2"})
    p.goto(f"{url}{studio}")  # type: ignore[attr-defined]
    p.get_by_label("Artifact", exact=True).select_option(index=2)  # type: ignore[attr-defined]
    auction = _mint_and_list(
        p,
        "Lighthouse #3",
        kind="english",
        **{"Reserve, SOL (auction)": "1", "Duration, minutes (auctions)": "1"},
    )

    # another member buys the first through the page, with the wallet Atelier holds
    p.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    _signed_in_member(p, url, home)
    p.goto(f"{url}/market")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Make my market wallet").click()  # type: ignore[attr-defined]
    buyer_wallet = p.locator("#market-wallet").inner_text()  # type: ignore[attr-defined]
    checked(p, "market")
    p.goto(first)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Buy for 1.75 SOL with my market wallet").click()  # type: ignore[attr-defined]
    expect(p.locator("#listing-status")).to_have_text("sold")  # type: ignore[attr-defined]
    p.get_by_role("link", name="The NFT and its provenance").click()  # type: ignore[attr-defined]
    expect(p.locator("#nft-owner")).to_have_text(buyer_wallet)  # type: ignore[attr-defined]
    expect(p.locator("#sales")).to_contain_text("1.75")  # type: ignore[attr-defined]
    expect(p.locator("#provenance")).to_contain_text("signed")  # type: ignore[attr-defined]
    checked(p, "market-nft")

    # an auction: a bid, then one in the last seconds extends it; the market settles it
    p.goto(auction)  # type: ignore[attr-defined]
    p.get_by_label("Your bid, SOL").fill("0.5")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Bid with my market wallet").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-amount")).to_contain_text("at least")  # type: ignore[attr-defined]
    p.get_by_label("Your bid, SOL").fill("1")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Bid with my market wallet").click()  # type: ignore[attr-defined]
    expect(p.locator("#leading-bid")).to_contain_text("1 SOL")  # type: ignore[attr-defined]
    expect(p.locator(".countdown")).to_contain_text("s left")  # type: ignore[attr-defined]
    first_end = p.locator("#ends-at").get_attribute("datetime")  # type: ignore[attr-defined]
    checked(p, "market-auction")
    p.get_by_label("Your bid, SOL").fill("1.2")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Bid with my market wallet").click()  # type: ignore[attr-defined]
    expect(p.locator("#leading-bid")).to_contain_text("1.2 SOL")  # type: ignore[attr-defined]
    assert p.locator("#ends-at").get_attribute("datetime") > first_end  # type: ignore[attr-defined]
    listing_id = auction.rsplit("/", 1)[1]
    import psycopg

    with psycopg.connect(database_url) as db:  # time passes: the auction's end is reached
        db.execute(
            "UPDATE market_listings SET ends_at = now() - interval '1 second' WHERE id = %s",
            (listing_id,),
        )
    expect(p.locator("#listing-status")).to_have_text("sold", timeout=60_000)  # type: ignore[attr-defined]
    expect(p.locator("#bids")).to_contain_text("won")  # type: ignore[attr-defined]

    # a wallet of the visitor's own buys the second through its Blink
    own = _solana_wallet(p, url)
    p.goto(second)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Buy with a wallet of my own").click()  # type: ignore[attr-defined]
    expect(p.locator("#listing-status")).to_have_text("sold", timeout=30_000)  # type: ignore[attr-defined]
    p.get_by_role("link", name="The NFT and its provenance").click()  # type: ignore[attr-defined]
    expect(p.locator("#nft-owner")).to_have_text(own)  # type: ignore[attr-defined]
    sale = httpx.get(f"{url}/api/market/nfts/{p.url.rsplit('/', 1)[1]}", timeout=30).json()[
        "sales"
    ][0]  # type: ignore[attr-defined]
    assert sale["price"] == 2 * 10**9
    assert sale["fee"] == 2 * 10**9 * 250 // 10_000
    assert sale["royalties"] == 2 * 10**9 - sale["fee"]  # a first sale: all to the creator
    assert [p_["address"] for p_ in sale["payouts"] if p_["role"] == "royalty"] == [creator_wallet]


def test_models_page_shows_versions_and_an_admins_rollback_error(
    site: tuple[str, Path], page: object, database_url: str, tmp_path: Path
) -> None:
    """A version whose weights do not match their sha256 is rejected by `atelier models
    update`; an admin sees it on /models, checks the catalog again from the page, and a
    rollback with nothing to restore answers beside its button."""
    url, home = site
    catalog = tmp_path / "catalog"
    folder = catalog / "image" / "forged" / "1"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not the pinned weights")
    manifest = {"name": "forged", "version": "1", "capability": "image", "sha256": "ab" * 32}
    manifest |= {"backend": "onnx-image", "weights": "model.onnx"}
    (folder / "model.json").write_text(json.dumps(manifest))
    checked_catalog = subprocess.run(
        [sys.executable, "-m", "atelier", "models", "update"],
        env=atelier_env(home, database_url, ATELIER_MODEL_CATALOG=str(catalog)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked_catalog.returncode == 0, checked_catalog.stderr
    assert "rejected forged@1" in " ".join(checked_catalog.stdout.split())
    p = page
    address = _signed_in_member(p, url, home)
    _promote_and_sign_in_again(p, url, home, database_url, address, "admin")
    p.goto(f"{url}/models")  # type: ignore[attr-defined]
    row = p.locator('tr[data-model="forged@1"]')  # type: ignore[attr-defined]
    playwright_sync.expect(row.locator(".status")).to_have_text("rejected")
    playwright_sync.expect(row).to_contain_text("not the")
    p.get_by_role("button", name="Check the catalog now").click()  # type: ignore[attr-defined]
    playwright_sync.expect(p.locator("#notice")).to_contain_text("Catalog checked")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Roll image back to its previous champion").click()  # type: ignore[attr-defined]
    error = p.locator("#e-rollback-image")  # type: ignore[attr-defined]
    playwright_sync.expect(error).to_contain_text("nothing to roll back to")
    checked(p, "models")


def test_an_admin_casts_and_the_feed_shows_it_live(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """An admin casts as the platform from /feed (an empty cast is refused beside its
    field); the task worker indexes it from the embedded hub and the open page shows it,
    then the like someone gives it."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    address = _signed_in_member(p, url, home)
    _promote_and_sign_in_again(p, url, home, database_url, address, "admin")
    p.goto(f"{url}/feed")  # type: ignore[attr-defined]
    expect(p.locator("html[data-live=connected]")).to_have_count(1)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Cast", exact=True).click()  # type: ignore[attr-defined]
    expect(p.locator("#e-text")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "feed-error")
    p.get_by_label("What to say (at most 320 bytes)").fill("a fox made on Atelier")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Cast", exact=True).click()  # type: ignore[attr-defined]
    expect(p.locator("#notice")).to_contain_text("sent to the hub")  # type: ignore[attr-defined]
    expect(p.locator("html[data-live=connected]")).to_have_count(1)  # type: ignore[attr-defined]
    expect(p.locator("#casts")).to_contain_text("a fox made on Atelier", timeout=30_000)  # type: ignore[attr-defined]
    expect(p.locator("#casts")).to_contain_text("verified")  # type: ignore[attr-defined]
    expect(p.locator("#casts")).to_contain_text("0 likes")  # type: ignore[attr-defined]
    cast = httpx.get(f"{url}/api/social/feed", timeout=10).json()["casts"][0]
    like = farcaster.reaction_data(9001, (cast["author"]["fid"], bytes.fromhex(cast["hash"][2:])))
    _, wire = farcaster.signed_message(Ed25519PrivateKey.generate(), like)
    liked = httpx.post(f"{url}/farcaster/hub/v1/submitMessage", content=wire, timeout=10)
    assert liked.status_code == 200, liked.text
    expect(p.locator("#casts")).to_contain_text("1 like ·", timeout=30_000)  # type: ignore[attr-defined]
    checked(p, "feed")


def test_a_member_automates_and_reads_the_log(site: tuple[str, Path], page: object) -> None:
    """A rule made on /automation (a condition on a field its event lacks is refused beside
    the condition) fires in the task worker when the member's job is cancelled; its run is
    in the log with what it did."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.goto(f"{url}/automation")  # type: ignore[attr-defined]
    p.get_by_label("Name", exact=True).fill("tell me")  # type: ignore[attr-defined]
    p.get_by_label("When").select_option("grid.job_changed")  # type: ignore[attr-defined]
    p.get_by_label("Field", exact=True).fill("colour")  # type: ignore[attr-defined]
    p.get_by_label("Value", exact=True).fill("cancelled")  # type: ignore[attr-defined]
    p.get_by_label("Action", exact=True).select_option("email")  # type: ignore[attr-defined]
    p.get_by_label(
        "Text (the cast, the job's prompt, the email or webhook body; {field} takes the event's)"
    ).fill("job {request_id} is {state}")  # type: ignore[attr-defined]
    p.get_by_label("Target (the job's kind, the webhook URL, the email subject)").fill(
        "a job ended"
    )  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save the rule").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-conditions")).to_contain_text("no field 'colour'")  # type: ignore[attr-defined]
    checked(p, "automation-error")
    p.get_by_label("Field", exact=True).fill("state")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save the rule").click()  # type: ignore[attr-defined]
    rule = p.locator("section[data-rule='tell me']")  # type: ignore[attr-defined]
    expect(rule).to_contain_text("No runs yet")
    p.goto(f"{url}/jobs")  # type: ignore[attr-defined]
    p.get_by_label("Kind").select_option("speech")  # type: ignore[attr-defined]
    p.get_by_label("Prompt (for speech: the text to say)").fill("cancel me")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Cancel this job").click()  # type: ignore[attr-defined]
    expect(p.locator("#job-state")).to_have_text("cancelled")  # type: ignore[attr-defined]
    for _ in range(30):
        p.goto(f"{url}/automation")  # type: ignore[attr-defined]
        if (
            rule.locator(".outcome").count()
            and rule.locator(".outcome").first.inner_text() != "running"
        ):
            break
        p.wait_for_timeout(1000)  # type: ignore[attr-defined]
    expect(rule.locator(".outcome").first).to_have_text("done")
    checked(p, "automation")
    rule.get_by_role("button", name="Pause").click()
    expect(p.get_by_role("heading", name="tell me (paused)")).to_be_visible()  # type: ignore[attr-defined]
    rule.get_by_role("button", name="Resume").click()
    expect(p.get_by_role("heading", name="tell me", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    rule.get_by_role("button", name="Delete").click()
    expect(rule).to_have_count(0)


def test_an_admin_changes_an_account(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """An admin finds a member, gives them a quota override (a word for a number is refused
    beside the account), a role, and disables them."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    member = _signed_in_member(p, url, home)
    p.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    address = _signed_in_member(p, url, home)
    _promote_and_sign_in_again(p, url, home, database_url, address, "admin")
    p.goto(f"{url}/admin")  # type: ignore[attr-defined]
    p.get_by_label("Find by email or name").fill(member)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Find").click()  # type: ignore[attr-defined]
    row = p.locator(f"form.user-row[data-user='{member}']")  # type: ignore[attr-defined]
    row.get_by_label("Daily quota override (empty: the roles')").fill("lots")
    row.get_by_role("button", name="Save").click()
    row = p.locator(f"form.user-row[data-user='{member}']")  # type: ignore[attr-defined]
    expect(row.locator(".error")).to_contain_text("whole number")
    checked(p, "admin-account-error")
    row.get_by_label("Daily quota override (empty: the roles')").fill("3")
    row.get_by_label("Roles (comma-separated)").fill("creator,validator")
    row.get_by_label("may sign in").uncheck()
    row.get_by_role("button", name="Save").click()
    expect(p.locator("#notice")).to_have_text("Account saved.")  # type: ignore[attr-defined]
    p.get_by_label("Find by email or name").fill(member)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Find").click()  # type: ignore[attr-defined]
    row = p.locator(f"form.user-row[data-user='{member}']")  # type: ignore[attr-defined]
    expect(row).to_contain_text("disabled")
    expect(row.get_by_label("Daily quota override (empty: the roles')")).to_have_value("3")
    expect(row.get_by_label("Roles (comma-separated)")).to_have_value("creator,validator")


def test_an_admin_reads_the_days_activity(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """The analytics page shows today's sign-ups (this admin's own, at least) as a count
    and a chart."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    address = _signed_in_member(p, url, home)
    _promote_and_sign_in_again(p, url, home, database_url, address, "admin")
    p.get_by_role("navigation").get_by_role("link", name="Analytics").click()  # type: ignore[attr-defined]
    signups = p.locator("section[data-metric=signups]")  # type: ignore[attr-defined]
    expect(signups.locator("svg rect")).to_have_count(30)
    for _ in range(30):  # the task worker counts the sign-up from its event
        if int(signups.locator(".today").inner_text()) >= 1:
            break
        p.wait_for_timeout(1000)  # type: ignore[attr-defined]
        p.reload()  # type: ignore[attr-defined]
    assert int(signups.locator(".today").inner_text()) >= 1
    checked(p, "analytics")


def test_an_admin_hides_an_artifact_and_its_owner_reads_why(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """An admin's own music job, hidden from /admin with a reason (a form without one is
    refused beside it); the job page then says why and offers an appeal."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    address = _signed_in_member(p, url, home)
    _promote_and_sign_in_again(p, url, home, database_url, address, "admin")
    p.goto(f"{url}/dashboard")  # type: ignore[attr-defined]
    p.get_by_label("New key's name").fill("rig")  # type: ignore[attr-defined]
    p.get_by_label("Scope").select_option("worker")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create key").click()  # type: ignore[attr-defined]
    key = p.locator("#new-key").inner_text().strip()  # type: ignore[attr-defined]
    worker = start_worker(home, url, key, "admin-rig", "--kinds", "music")
    try:
        p.goto(f"{url}/jobs")  # type: ignore[attr-defined]
        p.get_by_label("Kind").select_option("music")  # type: ignore[attr-defined]
        p.get_by_label("Prompt (for speech: the text to say)").fill("a logo jingle")  # type: ignore[attr-defined]
        p.get_by_label("Duration in seconds (music, video)").fill("1")  # type: ignore[attr-defined]
        p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
        expect(p.locator("#job-state")).to_have_text("done", timeout=90_000)  # type: ignore[attr-defined]
    finally:
        stop(worker)
    job_url = p.url  # type: ignore[attr-defined]
    artifact = p.locator("#result-artifact").inner_text().strip()  # type: ignore[attr-defined]
    p.get_by_role("navigation").get_by_role("link", name="Admin").click()  # type: ignore[attr-defined]
    p.get_by_label("Its id (a cast's 0x hash)").fill(artifact)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Hide").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-hide")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "admin-error")
    p.get_by_label("Its id (a cast's 0x hash)").fill(artifact)  # type: ignore[attr-defined]
    p.get_by_label("Why (its owner reads this)").fill("sounds like a registered jingle")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Hide").click()  # type: ignore[attr-defined]
    expect(p.locator("#notice")).to_contain_text("hidden")  # type: ignore[attr-defined]
    expect(p.locator(f"[data-case='{artifact}'] .case-state")).to_have_text("hidden")  # type: ignore[attr-defined]
    checked(p, "admin")
    p.goto(job_url)  # type: ignore[attr-defined]
    expect(p.locator("#moderation-reason")).to_have_text("sounds like a registered jingle")  # type: ignore[attr-defined]
    p.get_by_label("Why it should be shown again").fill("I wrote it")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Appeal").click()  # type: ignore[attr-defined]
    expect(p.locator("#moderation")).to_contain_text("waiting for an admin")  # type: ignore[attr-defined]


def test_an_admin_hides_a_script_and_its_author_appeals(
    site: tuple[str, Path], page: object, database_url: str
) -> None:
    """An admin's own screenplay, hidden as a script from /admin: its page tells its author
    why and takes the appeal."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    address = _signed_in_member(p, url, home)
    _promote_and_sign_in_again(p, url, home, database_url, address, "admin")
    p.goto(f"{url}/films")  # type: ignore[attr-defined]
    p.get_by_label("Or paste it (Fountain)").fill(SCREENPLAY)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Submit").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Coffee Break")).to_be_visible()  # type: ignore[attr-defined]
    script_url = p.url  # type: ignore[attr-defined]
    script_id = script_url.rsplit("/", 1)[1]
    p.get_by_role("navigation").get_by_role("link", name="Admin").click()  # type: ignore[attr-defined]
    p.get_by_label("What").select_option("script")  # type: ignore[attr-defined]
    p.get_by_label("Its id (a cast's 0x hash)").fill(script_id)  # type: ignore[attr-defined]
    p.get_by_label("Why (its owner reads this)").fill("copies a produced play")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Hide").click()  # type: ignore[attr-defined]
    expect(p.locator(f"[data-case='{script_id}'] .case-state")).to_have_text("hidden")  # type: ignore[attr-defined]
    p.goto(script_url)  # type: ignore[attr-defined]
    expect(p.locator("#moderation-reason")).to_have_text("copies a produced play")  # type: ignore[attr-defined]
    checked(p, "films-script-hidden")
    p.get_by_label("Why it should be shown again").fill("it is my own adaptation")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Appeal").click()  # type: ignore[attr-defined]
    expect(p.locator("#moderation")).to_contain_text("waiting for an admin")  # type: ignore[attr-defined]


def test_a_member_saves_a_prompt_and_runs_an_agent(site: tuple[str, Path], page: object) -> None:
    """A prompt saved in the library (an empty one is refused beside its field), an agent
    planned from it with its cost shown, started, and followed live to its ranking."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.get_by_label("New key's name").fill("rig")  # type: ignore[attr-defined]
    p.get_by_label("Scope").select_option("worker")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create key").click()  # type: ignore[attr-defined]
    key = p.locator("#new-key").inner_text().strip()  # type: ignore[attr-defined]
    p.get_by_role("navigation").get_by_role("link", name="Studio").click()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save the prompt").click()  # type: ignore[attr-defined]
    expect(p.locator("#e-text")).to_be_visible()  # type: ignore[attr-defined]
    checked(p, "studio-error")
    p.get_by_label("Name", exact=True).fill("fox")  # type: ignore[attr-defined]
    p.get_by_label("Text ({variables} in braces; a default can follow later)").fill(
        "a red fox in snow"
    )  # type: ignore[attr-defined]
    p.get_by_label("Tags (comma-separated)").fill("animals")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save the prompt").click()  # type: ignore[attr-defined]
    expect(p.locator("[data-prompt=fox]")).to_contain_text("v1")  # type: ignore[attr-defined]
    p.get_by_label("…or one of yours").select_option(label="fox (v1)")  # type: ignore[attr-defined]
    p.get_by_label("How many to make (empty: the template's)").fill("2")  # type: ignore[attr-defined]
    p.get_by_label("How many to keep").fill("1")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Plan it").click()  # type: ignore[attr-defined]
    expect(p.locator("#plan")).to_contain_text("2 image, keep the best 1")  # type: ignore[attr-defined]
    checked(p, "agent-plan")
    worker = start_worker(home, url, key, "agent-rig", "--kinds", "image")
    try:
        p.get_by_role("button", name="Start it").click()  # type: ignore[attr-defined]
        expect(p.locator("#agent-status")).to_have_text("done", timeout=120_000)  # type: ignore[attr-defined]
    finally:
        stop(worker)
    expect(p.locator("#ranked tbody tr")).to_have_count(2)  # type: ignore[attr-defined]
    checked(p, "agent-done")


def test_a_member_writes_a_short_film_from_a_logline(site: tuple[str, Path], page: object) -> None:
    """The short-film template: the plan says the screenplay goes to the portal and its film
    waits for a round; started, the screenplay is there to read."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.goto(f"{url}/studio")  # type: ignore[attr-defined]
    p.get_by_label("Template", exact=True).select_option("short-film")  # type: ignore[attr-defined]
    p.get_by_label("Prompt (for a short film: its logline)").fill(  # type: ignore[attr-defined]
        "A lighthouse keeper in a small harbour town finds a message in a bottle, "
        "but the storm that brought it is coming back for her."
    )
    p.get_by_role("button", name="Plan it").click()  # type: ignore[attr-defined]
    expect(p.locator("#plan-film")).to_contain_text("once a round selects it")  # type: ignore[attr-defined]
    checked(p, "agent-film-plan")
    p.get_by_role("button", name="Start it").click()  # type: ignore[attr-defined]
    expect(p.locator("#agent-status")).to_have_text("done", timeout=60_000)  # type: ignore[attr-defined]
    p.locator("#agent-script").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="A Lighthouse Keeper")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="EXT. SMALL HARBOUR TOWN - NIGHT")).to_be_visible()  # type: ignore[attr-defined]


def test_a_prompt_shared_with_a_studio(site: tuple[str, Path], page: object) -> None:
    """A member's studio gets a prompt from the studio page's library form; it is listed as
    shared with the studio."""
    url, home = site
    expect = playwright_sync.expect
    p = page
    _signed_in_member(p, url, home)
    p.goto(f"{url}/market")  # type: ignore[attr-defined]
    p.get_by_label("New studio's name").fill("Ink House")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Create the studio").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Ink House")).to_be_visible()  # type: ignore[attr-defined]
    p.goto(f"{url}/studio")  # type: ignore[attr-defined]
    p.get_by_label("Name", exact=True).fill("house style")  # type: ignore[attr-defined]
    p.get_by_label("Text ({variables} in braces; a default can follow later)").fill(  # type: ignore[attr-defined]
        "{subject}, sumi ink"
    )
    p.get_by_label("Shared with").select_option(label="Ink House (owner)")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Save the prompt").click()  # type: ignore[attr-defined]
    expect(p.locator("[data-prompt='house style'] .shared")).to_have_text("shared with Ink House")  # type: ignore[attr-defined]
    checked(p, "studio-shared-prompt")
