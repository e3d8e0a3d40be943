"""Photos the node takes: made from the private-safe frame (faces of people not checked in are
already blurred), C2PA-signed with the node's own certificate (provenance's signing used as a
library), kept with a metadata file that says when, by whom and who was checked in."""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from atelier.camera.pipeline import Processed, encode_jpeg
from atelier.core.secrets import ensure_private_dir
from atelier.provenance.certificates import SigningIdentity, create_chain, load_identity
from atelier.provenance.signing import sign

DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
CAPTURE_LABEL = "org.atelier.capture"
MAX_LISTED = 200


@dataclass
class MediaRecord:
    id: str
    kind: str
    camera: str
    taken_at: str
    taken_by: str
    named: list[str]  # checked-in wallets recognised in the picture
    checked_in: list[str]  # every wallet checked in when it was taken
    width: int
    height: int
    sha256: str
    bytes: int
    c2pa: bool

    def public(self) -> dict[str, Any]:
        return asdict(self)


def capture_manifest(camera: str, taken_at: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "Atelier camera node", "version": "1"}],
        "title": f"{camera} {taken_at}",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_CAPTURE,
                            "softwareAgent": {"name": f"Atelier camera {camera}"},
                        },
                        {
                            "action": "c2pa.edited",
                            "description": "faces of people not checked in are blurred",
                        },
                    ]
                },
            },
            {"label": CAPTURE_LABEL, "data": {"camera": camera, "taken_at": taken_at}},
        ],
    }


def node_identity(directory: Path, camera: str) -> SigningIdentity:
    """The node's signing certificate, created on first use (an operator may put their own
    chain.pem/signer.key there)."""
    if not (directory / "chain.pem").exists():
        return create_chain(directory, label=f"Atelier camera {camera}")
    return load_identity(directory)


class MediaStore:
    def __init__(self, directory: Path, camera: str, identity: SigningIdentity) -> None:
        self.directory = ensure_private_dir(directory)
        self.camera, self.identity = camera, identity
        self._lock = threading.Lock()

    def path(self, record_id: str) -> Path:
        if not record_id.isalnum():
            raise KeyError(record_id)
        return self.directory / f"{record_id}.jpg"

    def photo(self, processed: Processed, *, taken_by: str, checked_in: list[str]) -> MediaRecord:
        taken_at = datetime.fromtimestamp(processed.at, UTC).isoformat(timespec="milliseconds")
        record_id = datetime.fromtimestamp(processed.at, UTC).strftime(
            "%Y%m%d%H%M%S"
        ) + secrets.token_hex(4)
        jpeg = encode_jpeg(Image.fromarray(processed.frame), quality=90)
        destination = self.path(record_id)
        with tempfile.NamedTemporaryFile(suffix=".jpg", dir=self.directory) as plain:
            plain.write(jpeg)
            plain.flush()
            sign(
                self.identity,
                Path(plain.name),
                "image/jpeg",
                destination,
                capture_manifest(self.camera, taken_at),
            )
        data = destination.read_bytes()
        record = MediaRecord(
            id=record_id,
            kind="photo",
            camera=self.camera,
            taken_at=taken_at,
            taken_by=taken_by,
            named=sorted(set(processed.named)),
            checked_in=sorted(checked_in),
            width=int(processed.frame.shape[1]),
            height=int(processed.frame.shape[0]),
            sha256=hashlib.sha256(data).hexdigest(),
            bytes=len(data),
            c2pa=True,
        )
        (self.directory / f"{record_id}.json").write_text(json.dumps(asdict(record)))
        return record

    def records(self, *, wallet: str | None) -> list[MediaRecord]:
        """Newest first; a wallet sees what it took or was checked in for."""
        found = []
        for meta in sorted(self.directory.glob("*.json"), reverse=True):
            record = MediaRecord(**json.loads(meta.read_text()))
            if wallet is None or wallet == record.taken_by or wallet in record.checked_in:
                found.append(record)
            if len(found) >= MAX_LISTED:
                break
        return found

    def record(self, record_id: str) -> MediaRecord:
        meta = self.directory / f"{record_id}.json"
        if not record_id.isalnum() or not meta.exists():
            raise KeyError(record_id)
        return MediaRecord(**json.loads(meta.read_text()))
