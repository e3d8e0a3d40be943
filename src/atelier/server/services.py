"""The service table (DESIGN.md section 1): which modules each `atelier serve` name mounts.

`atelier up` mounts all of them on one port. A service whose domain has no routes yet still
starts and answers /health, so deployments can be laid out before the code lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter

from atelier.server.modules import BY_NAME, routers_of, site_pages


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    description: str
    modules: list[str] = field(default_factory=list)
    site: bool = False  # serves the web dashboard: every domain's pages
    # a camera-node service (DESIGN.md section 6.8): no database, its own app and settings
    edge: bool = False


SERVICES: dict[str, ServiceSpec] = {
    s.name: s
    for s in (
        ServiceSpec(
            "grid",
            8080,
            "the web dashboard, accounts, API keys, generation jobs, workers, donations, films, "
            "the NFT market",
            [
                "web",
                "identity",
                "grid",
                "economy",
                "films",
                "market",
                "chain",
                "engine",
                "realtime",
                "social",
                "automation",
                "moderation",
                "admin",
                "studio",
            ],
            site=True,
        ),
        ServiceSpec(
            "provenance", 5200, "content ids, C2PA, fingerprints, originality", ["provenance"]
        ),
        ServiceSpec(
            "governance",
            5300,
            "jobs (Soulvan), proposals, signed votes, music styles",
            ["identity", "grid", "governance", "chain", "music", "realtime"],
        ),
        ServiceSpec(
            "engine",
            5400,
            "model registry, quality benchmarks, A/B tests, image/render/3D generation",
            ["identity", "engine"],
        ),
        ServiceSpec("camera", 5002, "edge camera node: capture, faces, stream, photos", edge=True),
        ServiceSpec("vault", 5003, "the camera node's biometric vault", edge=True),
        ServiceSpec("solana", 5001, "the camera node's Solana middleware (check-ins)", edge=True),
    )
}


def routers_for(names: list[str]) -> list[APIRouter]:
    """Routers of the named services, each included once even if services share a module."""
    modules = list(dict.fromkeys(m for name in names for m in SERVICES[name].modules))
    pages = site_pages() if any(SERVICES[name].site for name in names) else []
    return routers_of(modules) + pages


def mounts_for(names: list[str]) -> list[tuple[str, str]]:
    """(path, "module:attribute") of the ASGI apps the named services mount whole."""
    modules = list(dict.fromkeys(m for name in names for m in SERVICES[name].modules))
    mounts = [mount for m in modules for mount in BY_NAME[m].mounts]
    return [(path, target) for path, _, target in (m.partition("=") for m in mounts)]
