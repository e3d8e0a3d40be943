"""Publishing signed artifacts beyond the local store: S3 (boto3), IPFS through a Kubo node's
RPC API, and Pinata's pinning API.

The local content-addressed store stays the working copy; publishers put a copy where others
can fetch it. IPFS services report a CID for what they stored, and we refuse any answer that
differs from the CID we computed ourselves (same chunking: see provenance/cid.py), so a
misconfigured node or a lying pinning service is caught, not recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx


class PublishError(Exception):
    pass


@dataclass(frozen=True)
class Published:
    target: str
    url: str
    reference: str  # the S3 key or the CID

    def as_dict(self) -> dict[str, str]:
        return {"target": self.target, "url": self.url, "reference": self.reference}


class Publisher(Protocol):
    name: str

    def publish(
        self, path: Path, *, sha256: str, cid: str, mime: str, filename: str
    ) -> Published: ...


class S3Publisher:
    """`s3://bucket/prefix` (endpoint_url for S3-compatible stores such as MinIO)."""

    name = "s3"

    def __init__(
        self, url: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        import boto3

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("S3 targets look like s3://bucket/optional/prefix")
        self.bucket, self.prefix = parts.netloc, parts.path.strip("/")
        self.client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1"
        )

    def publish(self, path: Path, *, sha256: str, cid: str, mime: str, filename: str) -> Published:
        key = "/".join(
            p for p in (self.prefix, sha256[:2], f"{sha256}{Path(filename).suffix}") if p
        )
        try:
            self.client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": mime, "Metadata": {"sha256": sha256, "cid": cid}},
            )
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # botocore raises many types; all mean "not published"
            raise PublishError(f"S3 upload to {self.bucket} failed: {exc}") from None
        if head.get("Metadata", {}).get("sha256") != sha256:
            raise PublishError("S3 did not store the object's metadata")
        return Published("s3", f"s3://{self.bucket}/{key}", key)


def _check_cid(target: str, returned: str, expected: str) -> None:
    if returned != expected:
        raise PublishError(f"{target} reported CID {returned}, but the file's CID is {expected}")


class KuboPublisher:
    """A Kubo (go-ipfs) node's RPC API, e.g. http://127.0.0.1:5001."""

    name = "ipfs"

    def __init__(self, api_url: str, gateway: str = "https://ipfs.io") -> None:
        self.api_url = api_url.rstrip("/")
        self.gateway = gateway.rstrip("/")

    def publish(self, path: Path, *, sha256: str, cid: str, mime: str, filename: str) -> Published:
        params = {
            "cid-version": "1",
            "raw-leaves": "false",
            "chunker": "size-262144",
            "pin": "true",
        }
        try:
            with path.open("rb") as handle:
                files = {"file": (filename, handle, mime)}
                url = f"{self.api_url}/api/v0/add"
                response = httpx.post(url, params=params, files=files, timeout=300)
            response.raise_for_status()
            returned = json.loads(response.text.strip().splitlines()[-1])["Hash"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise PublishError(f"Kubo add failed: {exc}") from None
        _check_cid("Kubo", returned, cid)
        return Published("ipfs", f"{self.gateway}/ipfs/{cid}", cid)


class PinataPublisher:
    """Pinata's pinning API (`pinFileToIPFS`, JWT auth)."""

    name = "pinata"

    def __init__(
        self,
        jwt: str,
        api_url: str = "https://api.pinata.cloud",
        gateway: str = "https://gateway.pinata.cloud",
    ) -> None:
        self.jwt, self.api_url, self.gateway = jwt, api_url.rstrip("/"), gateway.rstrip("/")

    def publish(self, path: Path, *, sha256: str, cid: str, mime: str, filename: str) -> Published:
        options = json.dumps({"cidVersion": 1})
        metadata = json.dumps({"name": filename, "keyvalues": {"sha256": sha256}})
        try:
            with path.open("rb") as handle:
                response = httpx.post(
                    f"{self.api_url}/pinning/pinFileToIPFS",
                    headers={"Authorization": f"Bearer {self.jwt}"},
                    files={"file": (filename, handle, mime)},
                    data={"pinataOptions": options, "pinataMetadata": metadata},
                    timeout=300,
                )
            response.raise_for_status()
            returned = response.json()["IpfsHash"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise PublishError(f"Pinata pin failed: {exc}") from None
        _check_cid("Pinata", returned, cid)
        return Published("pinata", f"{self.gateway}/ipfs/{cid}", cid)


def publishers_from(
    s3_url: str | None, s3_endpoint: str | None, kubo_api: str | None, pinata_jwt: str | None
) -> list[Publisher]:
    targets: list[Publisher] = []
    if s3_url:
        targets.append(S3Publisher(s3_url, endpoint_url=s3_endpoint))
    if kubo_api:
        targets.append(KuboPublisher(kubo_api))
    if pinata_jwt:
        targets.append(PinataPublisher(pinata_jwt))
    return targets
