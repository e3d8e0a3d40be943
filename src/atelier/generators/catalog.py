"""The model catalog: versions an operator drops into a directory, one manifest each.

    <catalog>/<capability>/<name>/<version>/model.json
        {"name": "tiny-sd", "version": "2", "capability": "image", "backend": "onnx-image",
         "weights": "model.onnx", "sha256": "<hex of the weights file>"}

A version is known by its id, `name@version`. Workers load the versions whose weights match
their pinned sha256 and whose backend they can run; the engine registers every version it
finds, rejecting (and alerting on) those whose weights do not match.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

CAPABILITIES = ("image", "music", "speech", "video", "render", "3d")
# backends that load catalog weights, and the capability each serves (the others are built in)
BACKENDS = {"onnx-image": "image"}
MANIFEST = "model.json"
MAX_MANIFEST_BYTES = 64 * 1024
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Entry:
    name: str
    version: str
    capability: str
    backend: str
    weights: Path
    sha256: str
    description: str = ""

    @property
    def model_id(self) -> str:
        return f"{self.name}@{self.version}"

    def weights_problem(self) -> str | None:
        """Why the weights cannot be used (missing, or not the pinned file); None if fine."""
        if not self.weights.is_file():
            return f"the weights file {self.weights.name} is missing"
        digest = hashlib.sha256()
        with self.weights.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != self.sha256:
            return (
                f"the weights' sha256 is {digest.hexdigest()}, not the {self.sha256} "
                "its manifest pins"
            )
        return None


@dataclass(frozen=True)
class Unreadable:
    """A manifest that could not be read, and why (reported, never fatal)."""

    path: Path
    reason: str


def _entry(manifest: Path) -> Entry:
    if manifest.stat().st_size > MAX_MANIFEST_BYTES:
        raise ValueError(f"larger than {MAX_MANIFEST_BYTES} bytes")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    fields = {k: str(data.get(k) or "") for k in ("name", "version", "capability", "backend")}
    fields |= {"weights": str(data.get("weights") or ""), "sha256": str(data.get("sha256") or "")}
    for key in ("name", "version"):
        if not NAME.match(fields[key]):
            raise ValueError(f"{key} {fields[key]!r} is not a name (letters, digits, . _ -)")
    if fields["capability"] not in CAPABILITIES:
        raise ValueError(f"capability must be one of {', '.join(CAPABILITIES)}")
    if fields["backend"] not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
    if BACKENDS[fields["backend"]] != fields["capability"]:
        raise ValueError(
            f"the {fields['backend']} backend runs {BACKENDS[fields['backend']]} models"
        )
    if not SHA256.match(fields["sha256"].lower()):
        raise ValueError("sha256 must be 64 hex digits")
    weights = (manifest.parent / fields["weights"]).resolve()
    if manifest.parent.resolve() not in weights.parents:
        raise ValueError("weights must be a file beside the manifest")
    return Entry(
        fields["name"],
        fields["version"],
        fields["capability"],
        fields["backend"],
        weights,
        fields["sha256"].lower(),
        str(data.get("description") or "")[:500],
    )


def scan(root: Path | None) -> tuple[list[Entry], list[Unreadable]]:
    """Every manifest under `root` (sorted by path), and the ones that could not be read."""
    if root is None or not root.is_dir():
        return [], []
    entries: list[Entry] = []
    unreadable: list[Unreadable] = []
    for manifest in sorted(root.glob(f"*/*/*/{MANIFEST}")):
        try:
            entries.append(_entry(manifest))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            unreadable.append(Unreadable(manifest, str(exc)))
    return entries, unreadable
