"""C2PA manifests: embed one (ES256, our or the operator's certificate) and read one back.

What we sign into every artifact:
- `c2pa.actions`: `c2pa.created` with `digitalSourceType` = IPTC trainedAlgorithmicMedia and
  the generating model as software agent;
- `org.atelier.generation`: model, worker, original sha256 and CID, request kind.
- `org.atelier.wallet-proof`, once the creator has signed: the wallet, its EIP-712 signature
  and the typed data it signed (C2PA itself cannot sign with secp256k1).

PNG, JPEG, WAV and MP4 carry the manifest inside the file. OpenEXR cannot: its manifest is a
sidecar (`<name>.c2pa`, as C2PA allows), bound to the file's exact bytes by a data-hash
assertion, and the EXR itself is left untouched. c2pa's Reader validates the pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

import atelier
from atelier.provenance.certificates import SigningIdentity
from atelier.storage.media import DECLARED_ALIASES
from atelier.storage.sandbox import preload

preload(__name__)  # `read` runs in the media sandbox (c2pa parsing untrusted files)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "org.atelier.generation"
WALLET_PROOF_LABEL = "org.atelier.wallet-proof"
EMBEDDABLE = {"image/png", "image/jpeg", "audio/wav", "video/mp4"}
SIDECAR_ONLY = {"image/x-exr", "model/gltf-binary"}
SIDECAR_MIME = "application/c2pa"


UNEMBEDDABLE = (
    "{kind} files cannot carry an embedded C2PA manifest; theirs is a sidecar .c2pa file "
    "(give it with the file to check both)"
)


class ManifestError(Exception):
    pass


def normalise_mime(mime: str) -> str:
    return DECLARED_ALIASES.get(mime, mime)


def manifest_for(
    title: str,
    model: str | None,
    generation: dict[str, Any],
    wallet_proof: dict[str, Any] | None = None,
) -> dict[str, Any]:
    manifest = _manifest(title, model, generation)
    if wallet_proof:
        manifest["assertions"].append({"label": WALLET_PROOF_LABEL, "data": wallet_proof})
    return manifest


def _manifest(title: str, model: str | None, generation: dict[str, Any]) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "Atelier", "version": atelier.__version__}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {"name": model or "unknown"},
                        }
                    ]
                },
            },
            {"label": GENERATION_LABEL, "data": generation},
        ],
    }


def embeds(mime: str) -> bool:
    """Whether a file of this type carries its manifest inside (else: a sidecar)."""
    return normalise_mime(mime) in EMBEDDABLE


def sign(
    identity: SigningIdentity, source: Path, mime: str, dest: Path, manifest: dict[str, Any]
) -> bytes | None:
    """Write the signed file to `dest`: with the manifest embedded (None is returned), or,
    for a type that cannot hold one, unchanged, returning the sidecar manifest's bytes."""
    mime = normalise_mime(mime)
    if mime not in EMBEDDABLE | SIDECAR_ONLY:
        raise ManifestError(f"cannot sign {mime}")
    info = c2pa.C2paSignerInfo(b"es256", identity.chain_pem, identity.key_pem, None)
    try:
        with (
            # No claim thumbnail: rendering one cost ~56 of ~58 ms per 1024x1024 image, and
            # the asset the manifest is embedded in is its own preview.
            c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}}) as context,
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(manifest, context=context) as builder,
            source.open("rb") as reader,
            dest.open("w+b") as writer,
        ):
            if mime in SIDECAR_ONLY:
                builder.set_no_embed()
            sidecar = builder.sign(signer, mime, reader, writer)
    except c2pa.C2paError as exc:
        raise ManifestError(f"C2PA signing failed: {exc}") from None
    return None if mime in EMBEDDABLE else bytes(sidecar)


@dataclass(frozen=True)
class ManifestReport:
    state: str  # "none" | "Invalid" | "Valid" | "Trusted"
    failures: list[str] = field(default_factory=list)
    note: str | None = None  # why there is none, when that is not the file's fault
    signer: str | None = None
    issuer: str | None = None
    generation: dict[str, Any] | None = None
    digital_source_type: str | None = None
    wallet_proof: dict[str, Any] | None = None


def read(
    path: Path, mime: str, trust_anchor_pem: bytes | None, sidecar: bytes | None = None
) -> ManifestReport:
    """Validate the file's manifest (embedded, or the `sidecar` given) with c2pa's own Reader,
    our root as trust anchor."""
    mime = normalise_mime(mime)
    if sidecar is None and mime in SIDECAR_ONLY:
        return ManifestReport("none", note=UNEMBEDDABLE.format(kind=mime.split("-")[-1].upper()))
    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if trust_anchor_pem:
        settings["trust"] = {"trust_anchors": trust_anchor_pem.decode()}
    try:
        with c2pa.Context.from_dict(settings) as context, path.open("rb") as stream:
            reader = c2pa.Reader.try_create(mime, stream, manifest_data=sidecar, context=context)
            if reader is None:
                return ManifestReport("none")
            with reader:
                state = reader.get_validation_state() or "Invalid"
                results = reader.get_validation_results() or {}
                manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as exc:
        return ManifestReport("Invalid", [f"unreadable: {str(exc)[:200]}"])
    failures = [str(f.get("code")) for f in results.get("activeManifest", {}).get("failure", [])]
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get(
        "actions", []
    )
    source_type = next(
        (a.get("digitalSourceType") for a in actions if a.get("digitalSourceType")), None
    )
    signature = manifest.get("signature_info") or {}
    return ManifestReport(
        state=state,
        failures=failures,
        signer=signature.get("common_name"),
        issuer=signature.get("issuer"),
        generation=assertions.get(GENERATION_LABEL),
        digital_source_type=source_type,
        wallet_proof=assertions.get(WALLET_PROOF_LABEL),
    )
