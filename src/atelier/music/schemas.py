"""Bodies of the music style API (the Soulvan seed's POST /api/music/style)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from atelier.core.schemas import Body


class StyleIn(Body):
    wallet: str = Field(min_length=32, max_length=64)
    truck_style: str = Field(min_length=1, max_length=30)
    mood: str | None = Field(default=None, max_length=30, pattern=r"^[a-z][a-z -]*$")


class TrackOut(BaseModel):
    job_id: str
    url: str
    prompt: str
    bpm: int | None
    duration_s: float | None


class StyleOut(BaseModel):
    wallet: str
    truck_style: str
    mood: str | None
    music_genre: str
    suggested_track: str | None = Field(description="URL of the suggested track, when one exists")
    track: TrackOut | None
    generate: dict[str, object] | None = Field(
        description="A request that makes a track in this genre, when the library has none"
    )
