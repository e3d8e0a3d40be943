"""Music style preferences, one per wallet."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class MusicStyle(Base):
    __tablename__ = "music_styles"

    wallet: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    truck_style: Mapped[str] = mapped_column(String(30))
    mood: Mapped[str | None] = mapped_column(String(30))
    genre: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
