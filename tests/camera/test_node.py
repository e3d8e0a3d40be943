"""The camera node end to end (the issue's done-when): the stream shows blurred faces; a
wallet checks in on the embedded Solana runtime, enrols with consent, is then boxed and named
(and nobody else is); a photo is taken, C2PA-signed, with the stranger blurred; check-out
purges the template and the vault proves it gone."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any

import c2pa
import httpx
import numpy as np
from eth_account import Account
from eth_account.messages import encode_defunct
from PIL import Image
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from atelier.camera import keys
from atelier.camera.faces import sharpness
from atelier.camera.pipeline import short_wallet
from atelier.camera.sessions import camera_pda
from tests.camera.conftest import CameraNode, scene


def sign_checkin(challenge: dict[str, Any], wallet: Keypair) -> str:
    transaction = Transaction.from_bytes(base64.b64decode(challenge["transaction"]))
    transaction.partial_sign([wallet], transaction.message.recent_blockhash)
    return base64.b64encode(bytes(transaction)).decode()


def forge_checkin(challenge: dict[str, Any], wallet: Pubkey, thief: Keypair) -> str:
    """The check-in transaction with the wallet's signature slot filled by another key."""
    transaction = Transaction.from_bytes(base64.b64decode(challenge["transaction"]))
    signatures = list(transaction.signatures)
    slot = list(transaction.message.account_keys).index(wallet)
    signatures[slot] = thief.sign_message(bytes(transaction.message))
    forged = Transaction.populate(transaction.message, signatures)
    return base64.b64encode(bytes(forged)).decode()


async def check_in(http: httpx.AsyncClient, node: CameraNode, wallet: Keypair) -> dict[str, Any]:
    challenge = await http.post(
        f"{node.camera}/api/session/challenge", json={"wallet": str(wallet.pubkey())}
    )
    assert challenge.status_code == 201, challenge.text
    body = challenge.json()
    started = await http.post(
        f"{node.camera}/api/session/checkin",
        json={"nonce": body["nonce"], "transaction": sign_checkin(body, wallet)},
    )
    assert started.status_code == 201, started.text
    return dict(started.json())


async def until(predicate: Any, what: str, timeout_s: float = 40) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def one_frame(http: httpx.AsyncClient, node: CameraNode) -> np.ndarray:
    async with http.stream("GET", f"{node.camera}/stream") as response:
        assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            start = buffer.find(b"\xff\xd8")
            end = buffer.find(b"\xff\xd9", start + 2)
            if start >= 0 and end > start:
                return np.asarray(Image.open(io.BytesIO(buffer[start : end + 2])).convert("RGB"))
    raise AssertionError("the stream ended without a frame")


def blurred(frame: np.ndarray, box: list[int]) -> bool:
    """Much less detail than the same face in the original scene."""
    original = max(sharpness(scene(step), tuple(box)) for step in range(0, 45, 5))  # type: ignore[arg-type]
    return sharpness(frame, tuple(box)) < 0.25 * original  # type: ignore[arg-type]


async def faces(http: httpx.AsyncClient, node: CameraNode) -> list[dict[str, Any]]:
    return list((await http.get(f"{node.camera}/api/faces")).json())


async def test_check_in_enrol_be_named_photo_check_out_and_purge(
    node: CameraNode, http: httpx.AsyncClient
) -> None:
    async def live() -> bool:
        status = (await http.get(f"{node.camera}/api/status")).json()
        return bool(status["source"]["state"] == "live" and status["pipeline"]["faces"] >= 2)

    await until(live, "two faces in view")
    seen = await faces(http, node)
    assert all(f["name"] is None for f in seen)
    frame = await one_frame(http, node)
    for face in seen:
        assert blurred(frame, face["box"]), "a face of someone not checked in is visible"

    wallet = Keypair()
    started = await check_in(http, node, wallet)
    session, token = started["session"], started["token"]
    assert session["wallet"] == str(wallet.pubkey()) and session["signature"]
    pda = camera_pda(Pubkey.from_string(node.settings.camera_program_id), "test-camera")
    found = await http.post(
        f"{node.platform}/solana/rpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "getSignaturesForAddress", "params": [str(pda)]},
    )
    assert session["signature"] in [s["signature"] for s in found.json()["result"]]

    me = {"Authorization": f"Bearer {token}"}
    refused = await http.post(f"{node.camera}/api/face/enrol", json={"consent": False}, headers=me)
    assert refused.status_code == 422 and refused.json()["type"].endswith("consent-required")
    enrolled = await http.post(f"{node.camera}/api/face/enrol", json={"consent": True}, headers=me)
    assert enrolled.status_code == 201, enrolled.text
    subject = enrolled.json()
    assert "template" not in subject and len(subject["commitment"]) == 64

    name = short_wallet(str(wallet.pubkey()))

    async def named() -> list[dict[str, Any]]:
        now = await faces(http, node)
        return [f for f in now if f["name"] == name]

    boxed = (await until(named, "the enrolled face to be named"))[0]
    assert boxed["box"][0] < 320  # the near face, on the left
    for _ in range(10):  # the stranger is never given a name
        others = [f for f in await faces(http, node) if f["box"][0] >= 320]
        assert all(f["name"] is None for f in others)
        await asyncio.sleep(0.1)

    photo = await http.post(f"{node.camera}/api/capture", headers=me)
    assert photo.status_code == 201, photo.text
    record = photo.json()
    assert record["taken_by"] == str(wallet.pubkey()) and record["c2pa"] is True
    assert str(wallet.pubkey()) in record["named"]
    picture = await http.get(f"{node.camera}/api/photos/{record['id']}", headers=me)
    assert picture.status_code == 200
    with c2pa.Reader("image/jpeg", io.BytesIO(picture.content)) as reader:
        manifest = reader.json()
    assert "digitalCapture" in manifest and "test-camera" in manifest
    image = np.asarray(Image.open(io.BytesIO(picture.content)).convert("RGB"))
    stranger = next(f for f in await faces(http, node) if f["box"][0] >= 320)
    assert blurred(image, stranger["box"])
    assert not blurred(image, boxed["box"])
    mine = (await http.get(f"{node.camera}/api/photos", headers=me)).json()
    assert [p["id"] for p in mine] == [record["id"]]
    assert (
        await http.get(f"{node.camera}/api/photos", headers={"Authorization": "Bearer x"})
    ).status_code == 401

    out = await http.post(f"{node.camera}/api/session/checkout", headers=me)
    assert out.status_code == 200 and out.json()["end_reason"] == "checked-out"

    async def unnamed() -> bool:
        return all(f["name"] is None for f in await faces(http, node))

    await until(unnamed, "the name to go at check-out", timeout_s=5)
    operator = {"Authorization": f"Bearer {keys.service_token(node.settings)}"}
    after = await http.post(f"{node.camera}/api/capture", headers=operator)
    checked_out = np.asarray(
        Image.open(
            io.BytesIO(
                (
                    await http.get(
                        f"{node.camera}/api/photos/{after.json()['id']}", headers=operator
                    )
                ).content
            )
        ).convert("RGB")
    )
    assert blurred(checked_out, boxed["box"]), "a checked-out person must be blurred again"
    proof = await http.get(f"{node.camera}/api/face/{subject['id']}/proof", headers=operator)
    assert proof.status_code == 200, proof.text
    shown = proof.json()
    assert shown["purge_reason"] == "checked-out"
    assert shown["key_present"] is False and shown["template_readable"] is False
    assert shown["audit_chain_intact"] is True
    assert (await http.get(f"{node.camera}/api/session/current", headers=me)).status_code == 401


async def test_a_check_in_cannot_be_replayed_forged_or_taken_from_another_camera(
    node: CameraNode, http: httpx.AsyncClient
) -> None:
    wallet, thief = Keypair(), Keypair()
    challenge = (
        await http.post(
            f"{node.camera}/api/session/challenge", json={"wallet": str(wallet.pubkey())}
        )
    ).json()
    forged = await http.post(
        f"{node.camera}/api/session/checkin",
        json={
            "nonce": challenge["nonce"],
            "transaction": forge_checkin(challenge, wallet.pubkey(), thief),
        },
    )
    assert forged.status_code == 422 and forged.json()["type"].endswith("bad-signature")
    # the nonce was spent by that attempt: the real signature cannot use it any more
    late = await http.post(
        f"{node.camera}/api/session/checkin",
        json={"nonce": challenge["nonce"], "transaction": sign_checkin(challenge, wallet)},
    )
    assert late.status_code == 409 and late.json()["type"].endswith("unknown-challenge")

    fresh = (
        await http.post(
            f"{node.camera}/api/session/challenge", json={"wallet": str(wallet.pubkey())}
        )
    ).json()
    signed = sign_checkin(fresh, wallet)
    first = await http.post(
        f"{node.camera}/api/session/checkin", json={"nonce": fresh["nonce"], "transaction": signed}
    )
    assert first.status_code == 201
    replay = await http.post(
        f"{node.camera}/api/session/checkin", json={"nonce": fresh["nonce"], "transaction": signed}
    )
    assert replay.status_code == 409

    # a check-in signed for another camera: its nonce was never issued here
    other = (
        await http.post(
            f"{node.camera}/api/session/challenge", json={"wallet": str(wallet.pubkey())}
        )
    ).json()
    elsewhere = other["transaction"]
    foreign = await http.post(
        f"{node.camera}/api/session/checkin",
        json={"nonce": "0" * 32, "transaction": sign_checkin({"transaction": elsewhere}, wallet)},
    )
    assert foreign.status_code == 409

    for hostile in (
        {"nonce": "zz"},
        {"nonce": "a" * 32, "transaction": "!!!not base64"},
        {"nonce": "a\x00" * 16},
        {"nonce": "a" * 32, "transaction": "A" * 100_000},
    ):
        answer = await http.post(f"{node.camera}/api/session/checkin", json=hostile)
        assert answer.status_code in (409, 413, 422), answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    for wallet_text in ("0x" + "zz" * 20, "not-a-wallet", ""):
        bad = await http.post(f"{node.camera}/api/session/challenge", json={"wallet": wallet_text})
        assert bad.status_code == 422


async def test_an_ethereum_wallet_checks_in_by_signing_the_message(
    node: CameraNode, http: httpx.AsyncClient
) -> None:
    account, other = Account.create(), Account.create()
    challenge = (
        await http.post(
            f"{node.camera}/api/session/challenge", json={"wallet": account.address, "chain": "evm"}
        )
    ).json()
    assert challenge["transaction"] is None and "test-camera" in challenge["message"]
    wrong = other.sign_message(encode_defunct(text=challenge["message"])).signature.hex()
    refused = await http.post(
        f"{node.camera}/api/session/checkin", json={"nonce": challenge["nonce"], "signature": wrong}
    )
    assert refused.status_code == 422
    again = (
        await http.post(
            f"{node.camera}/api/session/challenge", json={"wallet": account.address, "chain": "evm"}
        )
    ).json()
    good = account.sign_message(encode_defunct(text=again["message"])).signature.hex()
    started = await http.post(
        f"{node.camera}/api/session/checkin", json={"nonce": again["nonce"], "signature": good}
    )
    assert started.status_code == 201, started.text
    assert started.json()["session"]["chain"] == "evm"
    assert started.json()["session"]["signature"] is None


async def test_fifty_viewers_share_one_stream(node: CameraNode, http: httpx.AsyncClient) -> None:
    async def watch() -> int:
        frame = await one_frame(http, node)
        return int(frame.shape[1])

    widths = await asyncio.gather(*(watch() for _ in range(50)))
    assert widths == [640] * 50

    async def all_gone() -> bool:
        return (await http.get(f"{node.camera}/api/status")).json()["viewers"] == 0

    await until(all_gone, "the viewers to be counted out", timeout_s=15)

    async def watch_until_cancelled() -> None:
        async with http.stream("GET", f"{node.camera}/stream") as response:
            async for _ in response.aiter_bytes():
                pass

    dropping = [asyncio.create_task(watch_until_cancelled()) for _ in range(50)]
    await asyncio.sleep(1.5)
    for viewer in dropping:  # they all go at once, mid-stream
        viewer.cancel()
    await asyncio.gather(*dropping, return_exceptions=True)
    await until(all_gone, "the dropped viewers to be counted out", timeout_s=15)
    frame = await asyncio.wait_for(one_frame(http, node), 10)  # the stream still flows
    assert frame.shape == (360, 640, 3)


async def test_the_node_services_refuse_strangers(
    node: CameraNode, http: httpx.AsyncClient
) -> None:
    assert (await http.get(f"{node.vault}/api/biometric/templates")).status_code == 401
    assert (await http.get(f"{node.middleware}/api/session/active")).status_code == 401
    no_session = await http.post(f"{node.camera}/api/face/enrol", json={"consent": True})
    assert no_session.status_code == 401
    assert (await http.post(f"{node.camera}/api/capture")).status_code == 401
    assert (await http.get(f"{node.camera}/api/photos/..%2f..%2fsecrets")).status_code == 404
    page = await http.get(f"{node.camera}/")
    assert page.status_code == 200 and '<img class="stream"' in page.text
