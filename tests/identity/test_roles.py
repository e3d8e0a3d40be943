"""Role checks as other domains will use them: `Depends(require_role(...))`."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from sqlalchemy import update

from atelier.core.runtime import Runtime
from atelier.identity.deps import require_role
from atelier.identity.models import User
from atelier.identity.principal import Principal
from atelier.server.app import create_app
from tests.helpers import bearer, register_verified

router = APIRouter()


@router.get("/test/validators-only")
async def validators_only(
    principal: Annotated[Principal, Depends(require_role("validator"))],
) -> dict[str, str]:
    return {"user": str(principal.user_id)}


async def test_roles_gate_routes(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, tokens = await register_verified(client, runtime)
    app = create_app(runtime.settings, runtime=runtime)
    app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=runtime.settings.origin
    ) as gated:
        refused = await gated.get("/test/validators-only", headers=bearer(tokens["access_token"]))
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/missing-role"
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(User).where(User.id == tokens["user_id"]).values(roles=["admin"])
            )
        allowed = await gated.get("/test/validators-only", headers=bearer(tokens["access_token"]))
        assert allowed.status_code == 200  # admin implies every role
