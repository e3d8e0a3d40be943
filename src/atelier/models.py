"""Every table of every domain, imported in one place for Alembic and the test suite."""

from atelier.core import events, ratelimit
from atelier.core.db import Base
from atelier.grid import models as grid_models
from atelier.identity import models as identity_models
from atelier.music import models as music_models
from atelier.provenance import models as provenance_models

metadata = Base.metadata

__all__ = [
    "events",
    "grid_models",
    "identity_models",
    "metadata",
    "music_models",
    "provenance_models",
    "ratelimit",
]
