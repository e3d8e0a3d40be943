"""Publishing signed artifacts: S3 against moto's real S3-compatible server; Kubo and Pinata
against local HTTP servers that answer with the providers' response shapes, their CIDs
computed by Debian's ipfs-cid (an independent implementation)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import httpx
import pytest

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.storage.publish import KuboPublisher, PinataPublisher, PublishError, S3Publisher
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, asgi_client, worker_loop
from tests.helpers import bearer, drain_tasks
from tests.servers import free_port

IPFS_CID = shutil.which("ipfs_cid")
pytestmark = pytest.mark.skipif(IPFS_CID is None, reason="needs Debian's ipfs-cid")


def ipfs_cid(data: bytes) -> str:
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(data)
        handle.flush()
        out = subprocess.run(
            [str(IPFS_CID), handle.name], capture_output=True, text=True, check=True
        )
    return str(json.loads(out.stdout)["CIDv1"])


class _IpfsLike(BaseHTTPRequestHandler):
    lie = False

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        part = next(p for p in message.iter_parts() if p.get_filename())
        cid = (
            "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
            if self.lie
            else ipfs_cid(part.get_payload(decode=True))
        )
        if self.path.startswith("/api/v0/add"):  # Kubo: newline-delimited JSON
            payload = json.dumps({"Name": part.get_filename(), "Hash": cid, "Size": "1"}) + "\n"
        elif (
            self.path == "/pinning/pinFileToIPFS"
            and self.headers.get("Authorization") == "Bearer test-jwt"
        ):
            payload = json.dumps(
                {"IpfsHash": cid, "PinSize": 1, "Timestamp": "2026-11-21T00:00:00Z"}
            )
        else:
            self.send_response(401)
            self.end_headers()
            return
        data = payload.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def ipfs_like() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _IpfsLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def s3(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="art")
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    s3: str,
    ipfs_like: str,
    monkeypatch_module: pytest.MonkeyPatch,
) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        database_url,
        publish_s3_url="s3://art/signed",
        publish_s3_endpoint=s3,
        publish_kubo_api=ipfs_like,
    )


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield patch
    patch.undo()


def test_publishers_check_the_cid(
    tmp_path: Path, s3: str, ipfs_like: str, monkeypatch_module: pytest.MonkeyPatch
) -> None:
    from atelier.provenance.cid import file_ids

    path = tmp_path / "a.bin"
    path.write_bytes(b"hello atelier" * 1000)
    ids = file_ids(path)
    args = {"sha256": ids.sha256, "cid": ids.cid_v1, "mime": "image/png", "filename": "a.png"}
    stored = S3Publisher("s3://art/x", endpoint_url=s3).publish(path, **args)
    assert stored.url.startswith("s3://art/x/")
    body = (
        boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
        .get_object(Bucket="art", Key=stored.reference)["Body"]
        .read()
    )
    assert body == path.read_bytes()
    assert KuboPublisher(ipfs_like).publish(path, **args).reference == ids.cid_v1
    assert (
        PinataPublisher("test-jwt", api_url=ipfs_like).publish(path, **args).reference == ids.cid_v1
    )
    with pytest.raises(PublishError, match="Pinata pin failed"):
        PinataPublisher("wrong-jwt", api_url=ipfs_like).publish(path, **args)
    _IpfsLike.lie = True
    try:
        with pytest.raises(PublishError, match="reported CID"):
            KuboPublisher(ipfs_like).publish(path, **args)
    finally:
        _IpfsLike.lie = False
    with pytest.raises(PublishError, match="S3 upload"):
        S3Publisher("s3://no-such-bucket", endpoint_url=s3).publish(path, **args)


async def test_pipeline_publishes_and_upload_republishes(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, s3: str
) -> None:
    _, creator = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    job = await grid.generate({"kind": "image", "prompt": "published"})
    async with worker_loop(client, volunteer, "publisher", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), 60)
    await drain_tasks(runtime)
    status = await grid.status(job.id)
    await grid.close()
    assert status.result is not None
    trail = status.result["provenance"]
    assert trail["steps"]["publish"] == "done"
    assert {p["target"] for p in trail["published"]} == {"s3", "ipfs"}
    assert (
        next(p for p in trail["published"] if p["target"] == "ipfs")["reference"]
        == status.result["cid"]
    )

    again = await client.post(
        "/upload", headers=bearer(creator), json={"artifact_id": status.result["artifact_id"]}
    )
    assert again.status_code == 200, again.text
    _, stranger = await account_with_key(runtime)
    refused = await client.post(
        "/upload", headers=bearer(stranger), json={"artifact_id": status.result["artifact_id"]}
    )
    assert refused.status_code == 404
