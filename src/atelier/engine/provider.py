"""A model provider's API as a catalog source: new versions it lists are downloaded into the
local catalog, verified, and from then on are catalog versions like any other.

The provider answers `GET {url}/models` with a JSON list of versions, each
`{name, version, capability, backend, sha256, size, weights_url}` (a bearer token is sent
when one is configured). A version is fetched only when the catalog lacks it: its weights are
streamed to a temporary file with its size capped and its sha256 computed on the way, and the
manifest is written only once the digest matches the one the provider announced; a mismatch,
an oversized or unreachable file leaves nothing behind. Nothing here runs inside a database
transaction (the engine's periodic tick and `atelier models update` call it first).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from atelier.generators import catalog

MAX_INDEX_BYTES = 1024 * 1024


@dataclass
class SyncReport:
    fetched: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _listing(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    with client.stream("GET", f"{url.rstrip('/')}/models") as response:
        response.raise_for_status()
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_INDEX_BYTES:
                raise ValueError(f"the provider's index is larger than {MAX_INDEX_BYTES} bytes")
    items = json.loads(body)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("the provider's index is not a list of versions")
    return items


def _manifest(item: dict[str, Any]) -> dict[str, Any]:
    fields = {k: str(item.get(k) or "") for k in ("name", "version", "capability", "backend")}
    fields |= {"sha256": str(item.get("sha256") or "").lower(), "weights": "model.onnx"}
    if not (catalog.NAME.match(fields["name"]) and catalog.NAME.match(fields["version"])):
        raise ValueError("its name or version is not a name (letters, digits, . _ -)")
    if catalog.BACKENDS.get(fields["backend"]) != fields["capability"]:
        raise ValueError(f"backend {fields['backend']!r} does not serve {fields['capability']!r}")
    if not catalog.SHA256.match(fields["sha256"]):
        raise ValueError("its sha256 is not 64 hex digits")
    return fields


def _download(client: httpx.Client, url: str, target: Path, sha256: str, max_bytes: int) -> None:
    """Stream the weights to a temporary file beside `target`, capped and hashed; rename it
    into place only when the digest is the announced one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(handle, "wb") as out, client.stream("GET", url) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ValueError(f"its weights are larger than {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(f"its weights' sha256 is {digest.hexdigest()}, not the announced one")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _prune(folder: Path, root: Path) -> None:
    """Remove the folders a refused download made, up to the catalog's root."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def sync(
    url: str,
    catalog_dir: Path,
    *,
    token: str | None = None,
    max_bytes: int = 4 * 1024**3,
    transport: httpx.BaseTransport | None = None,
) -> SyncReport:
    """Fetch the provider's versions the catalog lacks (see the module's docstring)."""
    report = SyncReport()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    known = {entry.model_id for entry in catalog.scan(catalog_dir)[0]}
    with httpx.Client(headers=headers, timeout=60, transport=transport) as client:
        try:
            items = _listing(client, url)
        except (httpx.HTTPError, ValueError) as exc:
            report.error = f"the provider's index could not be read: {exc}"
            return report
        for item in items:
            label = f"{item.get('name')}@{item.get('version')}"
            if label in known:
                continue
            folder = None
            try:
                fields = _manifest(item)
                folder = catalog_dir / fields["capability"] / fields["name"] / fields["version"]
                weights_url = str(item.get("weights_url") or "")
                if not weights_url.startswith(("http://", "https://")):
                    raise ValueError("its weights_url is not an http(s) URL")
                _download(client, weights_url, folder / "model.onnx", fields["sha256"], max_bytes)
                (folder / catalog.MANIFEST).write_text(json.dumps(fields), encoding="utf-8")
            except (httpx.HTTPError, ValueError, OSError) as exc:
                report.refused[label[:130]] = str(exc)[:300]
                if folder is not None:
                    _prune(folder, catalog_dir)
                continue
            report.fetched.append(label)
    return report
