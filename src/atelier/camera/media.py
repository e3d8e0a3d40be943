"""Photos and videos the node takes: made from the private-safe frames (faces of people not
checked in are already blurred), C2PA-signed with the node's own certificate (provenance's
signing used as a library), kept with a metadata file that says when, by whom and who was
checked in. A video is H.264 in MP4 with each frame at the time it was taken (the capture
rate varies; the timestamps say what really happened)."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from atelier.camera.pipeline import Kept, Processed, encode_jpeg
from atelier.core.secrets import ensure_private_dir
from atelier.provenance.certificates import SigningIdentity, create_chain, load_identity
from atelier.provenance.signing import sign

DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
CAPTURE_LABEL = "org.atelier.capture"
MAX_LISTED = 200
MILLISECOND = Fraction(1, 1000)
SUFFIX = {"photo": ".jpg", "video": ".mp4"}
MIME = {"photo": "image/jpeg", "video": "video/mp4"}


class NothingRecorded(Exception):
    pass


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
    trigger: str = "api"  # api, gesture:<name>
    duration_s: float | None = None  # videos
    frames: int | None = None

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

    def path(self, record_id: str, kind: str = "photo") -> Path:
        if not record_id.isalnum():
            raise KeyError(record_id)
        return self.directory / f"{record_id}{SUFFIX[kind]}"

    def _store(
        self, kind: str, plain: bytes, at: float, *, checked_in: list[str], **fields: Any
    ) -> MediaRecord:
        """Sign `plain` with the node's certificate, keep it and its metadata file."""
        taken_at, record_id = _stamp(at)
        destination = self.path(record_id, kind)
        with tempfile.NamedTemporaryFile(suffix=SUFFIX[kind], dir=self.directory) as unsigned:
            unsigned.write(plain)
            unsigned.flush()
            sign(
                self.identity,
                Path(unsigned.name),
                MIME[kind],
                destination,
                capture_manifest(self.camera, taken_at),
            )
        data = destination.read_bytes()
        record = MediaRecord(
            id=record_id,
            kind=kind,
            camera=self.camera,
            taken_at=taken_at,
            checked_in=sorted(checked_in),
            sha256=hashlib.sha256(data).hexdigest(),
            bytes=len(data),
            c2pa=True,
            **fields,
        )
        (self.directory / f"{record.id}.json").write_text(json.dumps(asdict(record)))
        return record

    def photo(
        self, processed: Processed, *, taken_by: str, checked_in: list[str], trigger: str = "api"
    ) -> MediaRecord:
        return self._store(
            "photo",
            encode_jpeg(Image.fromarray(processed.frame), quality=90),
            processed.at,
            checked_in=checked_in,
            taken_by=taken_by,
            named=sorted(set(processed.named)),
            width=int(processed.frame.shape[1]),
            height=int(processed.frame.shape[0]),
            trigger=trigger,
        )

    def video(
        self, frames: list[Kept], *, taken_by: str, checked_in: list[str], trigger: str = "api"
    ) -> MediaRecord:
        """Encode the frames (JPEGs of the private-safe frames) as MP4 and sign it."""
        if not frames:
            raise NothingRecorded("no frames were recorded: the source gave none")
        first = Image.open(io.BytesIO(frames[0].jpeg))
        width, height = first.width - first.width % 2, first.height - first.height % 2
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = stream.codec_context.time_base = MILLISECOND
            stream.options = {"crf": "23", "preset": "veryfast"}
            last_pts = -1
            for kept in frames:
                rgb = np.asarray(Image.open(io.BytesIO(kept.jpeg)).convert("RGB"))
                frame = av.VideoFrame.from_ndarray(rgb[:height, :width], format="rgb24")
                frame.pts = max(last_pts + 1, round((kept.at - frames[0].at) * 1000))
                frame.time_base = MILLISECOND  # (the muxer changes the stream's own)
                last_pts = frame.pts
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return self._store(
            "video",
            buffer.getvalue(),
            frames[0].at,
            checked_in=checked_in,
            taken_by=taken_by,
            named=sorted({wallet for kept in frames for wallet in kept.named}),
            width=width,
            height=height,
            trigger=trigger,
            duration_s=round(frames[-1].at - frames[0].at, 3),
            frames=len(frames),
        )

    def records(self, *, wallet: str | None, kind: str = "photo") -> list[MediaRecord]:
        """Newest first; a wallet sees what it took or was checked in for."""
        found = []
        for meta in sorted(self.directory.glob("*.json"), reverse=True):
            record = MediaRecord(**json.loads(meta.read_text()))
            if record.kind != kind:
                continue
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


def _stamp(at: float) -> tuple[str, str]:
    """(ISO time, record id): ids sort by time, with random bits against collisions."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.isoformat(timespec="milliseconds"), moment.strftime(
        "%Y%m%d%H%M%S"
    ) + secrets.token_hex(4)
