"""What provenance answers, built from its results in one place (the API and the pages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atelier.provenance import originality, signing, wallet_proof
from atelier.provenance.cid import ContentIds


@dataclass(frozen=True)
class Verification:
    ids: ContentIds
    mime: str
    manifest: signing.ManifestReport
    known: dict[str, Any] | None
    originality: originality.Originality | None
    originality_note: str | None


def originality_out(report: originality.Originality) -> dict[str, Any]:
    return {"score": report.score, "neighbours": report.neighbours, "semantic": report.semantic}


def verification_out(result: Verification, sidecar: bool) -> dict[str, Any]:
    """`POST /verify`'s answer (and the verify page's facts)."""
    report = result.manifest
    return {
        "sha256": result.ids.sha256,
        "cid": result.ids.cid_v1,
        "cid_v0": result.ids.cid_v0,
        "size_bytes": result.ids.size,
        "mime": result.mime,
        "manifest": {
            "state": report.state,
            "note": report.note,
            "sidecar": sidecar,
            "failures": report.failures,
            "signer": report.signer,
            "issuer": report.issuer,
            "digital_source_type": report.digital_source_type,
            "generation": report.generation,
            "wallet": wallet_proof.check(report.wallet_proof),
        },
        "known_artifact": result.known,
        "originality": originality_out(result.originality) if result.originality else None,
        "originality_note": result.originality_note,
    }
