"""The service table (DESIGN.md section 1): which routers each `atelier serve` name mounts.

`atelier up` mounts all of them on one port. A service whose domain has no routes yet still
starts and answers /health, so deployments can be laid out before the code lands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter


def _grid_routers() -> list[APIRouter]:
    from atelier.grid.api import generate_router, jobs_router, workers_router

    return [generate_router, jobs_router, workers_router]


def _provenance_routers() -> list[APIRouter]:
    from atelier.provenance.api import router

    return [router]


def _music_routers() -> list[APIRouter]:
    from atelier.music.api import router

    return [router]


def _governance_routers() -> list[APIRouter]:
    from atelier.chain.evm.api import router as chain_router
    from atelier.governance.api import router

    return [router, chain_router]


def _identity_routers() -> list[APIRouter]:
    from atelier.identity.api import auth_router, user_router

    return [auth_router, user_router]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    description: str
    routers: list[Callable[[], list[APIRouter]]] = field(default_factory=list)


SERVICES: dict[str, ServiceSpec] = {
    s.name: s
    for s in (
        ServiceSpec("grid", 8080, "accounts, API keys, generation jobs, workers",
                    [_identity_routers, _grid_routers]),
        ServiceSpec("provenance", 5200, "content ids, C2PA, fingerprints, originality",
                    [_provenance_routers]),
        ServiceSpec("governance", 5300, "jobs (Soulvan), proposals, signed votes, music styles",
                    [_identity_routers, _grid_routers, _governance_routers, _music_routers]),
        ServiceSpec("engine", 5400, "model registry, quality benchmarks, A/B tests"),
        ServiceSpec("camera", 5002, "edge camera node"),
        ServiceSpec("vault", 5003, "biometric vault"),
        ServiceSpec("solana", 5001, "Solana sessions, actions and settlement"),
    )
}  # fmt: skip


def routers_for(names: list[str]) -> list[APIRouter]:
    """Routers of the named services, each included once even if services share a domain."""
    seen: set[int] = set()
    routers: list[APIRouter] = []
    for name in names:
        for factory in SERVICES[name].routers:
            for router in factory():
                if id(router) not in seen:
                    seen.add(id(router))
                    routers.append(router)
    return routers


def task_blueprints() -> dict[str, object]:
    """Every domain's procrastinate blueprint (the task worker runs them all)."""
    from atelier.core.tasks import blueprint as core_blueprint
    from atelier.governance.tasks import blueprint as governance_blueprint
    from atelier.grid.tasks import blueprint as grid_blueprint
    from atelier.identity.tasks import blueprint as identity_blueprint
    from atelier.music.tasks import blueprint as music_blueprint
    from atelier.provenance.tasks import blueprint as provenance_blueprint

    return {
        "core": core_blueprint,
        "identity": identity_blueprint,
        "grid": grid_blueprint,
        "provenance": provenance_blueprint,
        "governance": governance_blueprint,
        "music": music_blueprint,
    }
