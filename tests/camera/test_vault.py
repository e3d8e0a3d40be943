"""The biometric vault: templates encrypted per subject, purge that truly forgets, expiry, an
audit log that shows tampering, and an API only the node's services may call."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atelier.camera.vault import Vault, VaultError
from atelier.camera.vault_api import vault_app

WALLET_A = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
WALLET_B = "0x" + "ab" * 20
TOKEN = "t" * 64


def _face(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector) * 0.6


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vault(tmp_path: Path, clock: Clock) -> Vault:
    return Vault(tmp_path / "vault", os.urandom(32), clock=clock)


def test_a_template_is_stored_encrypted_and_matched(vault: Vault) -> None:
    face = _face(1)
    subject = vault.enrol(WALLET_A, "s1", face, ttl_s=600, actor="camera")
    stored = (vault.templates_dir / subject.id).read_bytes()
    assert face.tobytes() not in stored  # ciphertext, not the template
    assert len(subject.commitment) == 64
    near = face + np.float32(0.01)
    found = vault.identify(near, max_distance=0.5, margin=0.08, actor="camera")
    assert (found.subject, found.wallet, found.reason) == (subject.id, WALLET_A, "match")


def test_unknown_is_a_real_answer(vault: Vault) -> None:
    """Open set: a stranger is not the nearest subject, and two close subjects are nobody."""
    assert vault.identify(_face(3), max_distance=0.5, margin=0.08, actor="c").reason == (
        "no-subjects"
    )
    vault.enrol(WALLET_A, "s1", _face(1), ttl_s=600, actor="camera")
    stranger = vault.identify(_face(2), max_distance=0.5, margin=0.08, actor="camera")
    assert (stranger.subject, stranger.reason) == (None, "too-far")
    twin = _face(1) + np.float32(0.005)
    vault.enrol(WALLET_B, "s2", twin, ttl_s=600, actor="camera")
    between = (_face(1) + twin) / 2
    found = vault.identify(between, max_distance=0.5, margin=0.08, actor="camera")
    assert (found.subject, found.wallet, found.reason) == (None, None, "ambiguous")


def test_a_purged_template_is_unreadable_with_every_key_still_present(
    vault: Vault, tmp_path: Path
) -> None:
    """Crypto-shredding: a copy of the ciphertext taken before the purge (a backup) cannot be
    opened afterwards, not with the device key, not with any other subject's key."""
    gone = vault.enrol(WALLET_A, "s1", _face(1), ttl_s=600, actor="camera")
    kept = vault.enrol(WALLET_B, "s2", _face(2), ttl_s=600, actor="camera")
    backup = (vault.templates_dir / gone.id).read_bytes()
    wrapped_backup_of_other = (vault.keys_dir / kept.id).read_bytes()
    vault.purge(gone.id, actor="wallet:" + WALLET_A, reason="forgotten")

    assert not (vault.keys_dir / gone.id).exists()
    assert not (vault.templates_dir / gone.id).exists()
    with pytest.raises(VaultError):
        vault._unwrap(gone.id)
    candidate_keys = [vault._unwrap(kept.id)[0]]  # every key the vault still holds
    for key in candidate_keys:
        with pytest.raises(InvalidTag):
            AESGCM(key).decrypt(backup[:12], backup[12:], gone.id.encode())
    assert wrapped_backup_of_other == (vault.keys_dir / kept.id).read_bytes()
    proof = vault.proof(gone.id, actor="operator")
    assert proof["key_present"] is False
    assert proof["template_readable"] is False
    assert proof["purge_reason"] == "forgotten"
    assert [e["action"] for e in proof["audit"]][:2] == ["enrol", "purge"]
    assert proof["audit_chain_intact"] is True
    # the remaining subject is untouched
    assert vault.identify(_face(2), max_distance=0.5, margin=0.08, actor="c").wallet == WALLET_B


def test_templates_expire(vault: Vault, clock: Clock) -> None:
    subject = vault.enrol(WALLET_A, "s1", _face(1), ttl_s=60, actor="camera")
    assert vault.expire() == []
    clock.now += 61
    assert [s.id for s in vault.expire()] == [subject.id]
    assert vault.subject(subject.id).purge_reason == "expired"
    assert vault.identify(_face(1), max_distance=0.5, margin=0.08, actor="c").subject is None


def test_enrolling_again_replaces_the_old_face(vault: Vault) -> None:
    first = vault.enrol(WALLET_A, "s1", _face(1), ttl_s=600, actor="camera")
    second = vault.enrol(WALLET_A, "s1", _face(2), ttl_s=600, actor="camera")
    assert vault.subject(first.id).purge_reason == "re-enrolled"
    assert [s.id for s in vault.subjects()] == [second.id]


def test_the_vault_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    key = os.urandom(32)
    first = Vault(tmp_path / "v", key, clock=clock)
    subject = first.enrol(WALLET_A, "s1", _face(1), ttl_s=600, actor="camera")
    again = Vault(tmp_path / "v", key, clock=clock)
    assert again.identify(_face(1), max_distance=0.5, margin=0.08, actor="c").subject == (
        subject.id
    )
    stranger = Vault(tmp_path / "v", os.urandom(32), clock=clock)  # another device key
    with pytest.raises(InvalidTag):
        stranger.identify(_face(1), max_distance=0.5, margin=0.08, actor="c")


def test_the_audit_log_shows_tampering(vault: Vault) -> None:
    subject = vault.enrol(WALLET_A, "s1", _face(1), ttl_s=600, actor="camera")
    vault.purge(subject.id, actor="operator", reason="requested")
    assert vault.audit.verify() == (True, 2)
    lines = vault.audit.path.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["actor"] = "someone-else"
    vault.audit.path.write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    assert vault.audit.verify() == (False, 0)
    vault.audit.path.write_text(lines[1] + "\n")  # the first line removed
    assert vault.audit.verify()[0] is False


@pytest.mark.parametrize(
    "template",
    [[0.1] * 127, [0.1] * 129, [float("nan")] + [0.1] * 127, [1e39] + [0.1] * 127],
)
def test_a_bad_template_is_refused(vault: Vault, template: list[float]) -> None:
    with pytest.raises(VaultError):
        vault.enrol(WALLET_A, "s1", template, ttl_s=60, actor="camera")


async def test_only_the_nodes_services_may_call_the_vault(vault: Vault) -> None:
    app = vault_app(vault, TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vault") as http:
        body = {"wallet": WALLET_A, "session_id": "s1", "template": [0.1] * 128, "ttl_s": 60}
        refused = await http.post("/api/biometric/templates", json=body)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        wrong = await http.post(
            "/api/biometric/templates", json=body, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}", "X-Atelier-Actor": "wallet:<script>"}
        made = await http.post("/api/biometric/templates", json=body, headers=auth)
        assert made.status_code == 201
        assert "template" not in made.json()
        for hostile in (
            {**body, "template": [0.1] * 100_000},
            {**body, "wallet": "not a wallet"},
            {**body, "session_id": "a\x00b"},
            {**body, "ttl_s": -1},
        ):
            answer = await http.post("/api/biometric/templates", json=hostile, headers=auth)
            assert answer.status_code in (413, 422), answer.text
            assert answer.headers["content-type"] == "application/problem+json"
        deep = "[" * 10_000 + "]" * 10_000
        nested = await http.post(
            "/api/biometric/identify",
            content=deep,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert nested.status_code in (413, 422)
        audit = (await http.get("/api/biometric/audit", headers=auth)).json()
        assert audit["chain_intact"] is True
        assert audit["entries"][-1]["actor"] == "wallet:script"  # sanitised
        missing = await http.get("/api/biometric/templates/nope/proof", headers=auth)
        assert missing.status_code == 404
