"""Bodies of the music style API (the Soulvan seed's POST /api/music/style)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from atelier.core.schemas import Body
from atelier.grid.models import GenerationRequest
from atelier.music.models import MusicStyle


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

    @classmethod
    def of(cls, track: GenerationRequest) -> TrackOut:
        return cls(
            job_id=str(track.id),
            url=f"/api/v1/generate/{track.id}/result",
            prompt=str(track.params.get("prompt", "")),
            bpm=track.params.get("bpm"),
            duration_s=track.params.get("duration_s"),
        )


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

    @classmethod
    def of(
        cls, style: MusicStyle, track: GenerationRequest | None, generate: dict[str, object]
    ) -> StyleOut:
        """`track`: the suggested one, if any; else `generate`, the request that makes one."""
        track_out = TrackOut.of(track) if track is not None else None
        return cls(
            wallet=style.wallet,
            truck_style=style.truck_style,
            mood=style.mood,
            music_genre=style.genre,
            suggested_track=track_out.url if track_out else None,
            track=track_out,
            generate=None if track_out else generate,
        )
