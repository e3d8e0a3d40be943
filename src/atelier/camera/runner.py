"""Building and running the node's three services from the settings: each its own FastAPI
app on its own port (`atelier serve camera vault solana`), or all three in one process for an
edge box (`atelier camera`); either way they reach each other over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from atelier.camera import keys
from atelier.camera.capture import FrameSource
from atelier.camera.edge import Peer
from atelier.camera.faces import FaceDetector, FaceEncoder
from atelier.camera.hands import HandDetector
from atelier.camera.media import MediaStore, node_identity
from atelier.camera.middleware_api import Middleware, middleware_app
from atelier.camera.node import Node, camera_app
from atelier.camera.pipeline import Pipeline
from atelier.camera.sessions import Sessions
from atelier.camera.streaming import Hls, hls_directory
from atelier.camera.vault import Vault
from atelier.camera.vault_api import vault_app
from atelier.chain.solana.client import RpcSolana
from atelier.core.config import Settings
from atelier.core.secrets import ensure_private_dir

SERVICES = ("camera", "vault", "solana")


@dataclass(frozen=True)
class Peers:
    """Where the camera reaches the vault and the middleware (transports: tests run the
    services in process)."""

    vault_url: str
    middleware_url: str
    vault_transport: httpx.AsyncBaseTransport | None = None
    middleware_transport: httpx.AsyncBaseTransport | None = None


def peers_of(settings: Settings) -> Peers:
    local = f"http://{settings.camera_host}"
    return Peers(
        settings.camera_vault_url or f"{local}:{settings.vault_port}",
        settings.camera_middleware_url or f"{local}:{settings.camera_solana_port}",
    )


def build_vault(settings: Settings) -> FastAPI:
    vault = Vault(settings.home / "camera" / "vault", keys.device_key(settings))
    return vault_app(vault, keys.service_token(settings))


def build_middleware(
    settings: Settings, *, rpc_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    directory = ensure_private_dir(settings.home / "camera")
    sessions = Sessions(
        settings.camera_name,
        Pubkey.from_string(settings.camera_program_id),
        directory / "sessions.json",
        ttl_s=settings.camera_session_ttl_s,
    )
    rpc = settings.camera_solana_rpc_url
    return middleware_app(
        Middleware(
            sessions=sessions,
            solana=RpcSolana(rpc, "confirmed", transport=rpc_transport),
            fee_payer=Keypair.from_seed(keys.middleware_seed(settings)),
            token=keys.service_token(settings),
            cluster=rpc.rpartition("@")[2],
        )
    )


def build_camera(settings: Settings, peers: Peers) -> FastAPI:
    token = keys.service_token(settings)
    vault = Peer(peers.vault_url, token, name="vault", transport=peers.vault_transport)
    middleware = Peer(
        peers.middleware_url, token, name="Solana middleware", transport=peers.middleware_transport
    )
    holder: dict[str, Node] = {}

    async def identify(template: object) -> str | None:
        return await holder["node"].identify(template)  # type: ignore[arg-type]

    async def gesture(name: str) -> None:
        await holder["node"].gesture(name)

    pipeline = Pipeline(
        FaceDetector(),
        FaceEncoder(),
        identify,
        fps=settings.camera_fps,
        ring_s=settings.camera_ring_s,
        hands=HandDetector(),
        on_gesture=gesture,
    )
    source = FrameSource(
        settings.camera_source,
        fps=settings.camera_fps,
        width=settings.camera_width,
        height=settings.camera_height,
        on_frame=pipeline.on_frame,
    )
    directory = settings.home / "camera"
    node = Node(
        camera=settings.camera_name,
        pipeline=pipeline,
        source=source,
        vault=vault,
        middleware=middleware,
        media=MediaStore(
            directory / "photos",
            settings.camera_name,
            node_identity(ensure_private_dir(directory / "c2pa"), settings.camera_name),
        ),
        token=token,
        match_distance=settings.camera_match_distance,
        match_margin=settings.camera_match_margin,
        template_ttl_s=settings.camera_template_ttl_s,
        ring_s=settings.camera_ring_s,
        hls=Hls(pipeline.hub, settings.camera_fps, hls_directory(directory / "hls")),
    )
    holder["node"] = node
    return camera_app(node)


def port_of(settings: Settings, service: str) -> int:
    return {
        "camera": settings.camera_port,
        "vault": settings.vault_port,
        "solana": settings.camera_solana_port,
    }[service]


class _Server(uvicorn.Server):
    """One of several servers in this process: signals are handled once, for all of them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, services: list[str]) -> None:
    """Run the named services until SIGINT or SIGTERM stops them all."""
    builders = {
        "vault": lambda: build_vault(settings),
        "solana": lambda: build_middleware(settings),
        "camera": lambda: build_camera(settings, peers_of(settings)),
    }
    servers = [
        _Server(
            uvicorn.Config(
                builders[name](),
                host=settings.camera_host,
                port=port_of(settings, name),
                log_config=None,
                access_log=False,
            )
        )
        for name in services
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    await asyncio.gather(*(server.serve() for server in servers))
