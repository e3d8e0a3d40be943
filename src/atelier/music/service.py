"""Truck style → music genre, stored per wallet, with a track from the creator's library."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.config import Settings
from atelier.core.errors import InvalidInput
from atelier.grid import service as grid
from atelier.grid.models import GenerationRequest
from atelier.identity.principal import Principal
from atelier.identity.service import accounts, wallets
from atelier.identity.styles import TRUCK_STYLES
from atelier.music import repository as repo
from atelier.music.models import MusicStyle


def genre_map(settings: Settings) -> dict[str, str]:
    """The defaults (chrome → synthwave, graffiti → hip-hop, …) with operator overrides."""
    return {**{name: s.genre for name, s in TRUCK_STYLES.items()}, **settings.music_genres}


async def set_style(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    wallet: str,
    truck_style: str,
    mood: str | None,
) -> MusicStyle:
    genres = genre_map(settings)
    style = truck_style.lower()
    if style not in genres:
        raise InvalidInput(
            f"unknown truck style {truck_style!r}; styles are {', '.join(sorted(genres))}",
            slug="unknown-style",
            extra={"errors": [{"loc": ["body", "truck_style"], "msg": "unknown style"}]},
        )
    address = await wallets.callers_wallet(session, principal.user_id, wallet)
    return await repo.upsert_style(
        session,
        {
            "wallet": address,
            "user_id": principal.user_id,
            "truck_style": style,
            "mood": mood,
            "genre": genres[style],
        },
    )


async def get_style(session: AsyncSession, principal: Principal, wallet: str) -> MusicStyle | None:
    """The style of one of the caller's wallets, however the address is written."""
    _, address = wallets.chain_and_address(wallet)
    style = await repo.style_of(session, address)
    if style is None or style.user_id != principal.user_id:
        return None
    return style


async def suggested_track(
    session: AsyncSession, user_id: uuid.UUID, genre: str
) -> GenerationRequest | None:
    """The creator's newest finished music job in the genre."""
    return await grid.newest_track(session, user_id, genre)


def generate_request(genre: str, mood: str | None) -> dict[str, Any]:
    return {
        "kind": "music",
        "genre": genre,
        "prompt": f"{mood or 'driving'} {genre} track",
        "duration_s": 30,
    }


async def personalize(
    session: AsyncSession, settings: Settings, job_id: uuid.UUID
) -> GenerationRequest | None:
    """The community approved a job's upgrade: make its creator a track in the style of the
    job's wallet (or the creator's newest style). None when there is no style to follow."""
    job = await grid.job_of(session, job_id)
    if job is None:
        return None
    style = await repo.style_of(session, job.wallet) if job.wallet else None
    if style is None or style.user_id != job.user_id:
        style = await repo.newest_style(session, job.user_id)
    if style is None:
        return None
    principal = await accounts.principal_for(session, job.user_id, via="governance")
    fields = {k: v for k, v in generate_request(style.genre, style.mood).items() if k != "kind"}
    return await grid.submit(
        session,
        settings,
        principal,
        "music",
        fields,
        source="personalization",
        wallet=job.wallet,
        options={"personalizes": str(job_id)},
        charge_quota=False,
    )
