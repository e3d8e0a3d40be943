"""Every table of every domain, imported in one place for Alembic and the test suite."""

from atelier.chain.evm import models as chain_models
from atelier.core import events, idempotency, ratelimit
from atelier.core.db import Base
from atelier.economy import models as economy_models
from atelier.governance import models as governance_models
from atelier.grid import models as grid_models
from atelier.identity import models as identity_models
from atelier.music import models as music_models
from atelier.provenance import models as provenance_models

metadata = Base.metadata

__all__ = [
    "chain_models",
    "economy_models",
    "events",
    "governance_models",
    "grid_models",
    "idempotency",
    "identity_models",
    "metadata",
    "music_models",
    "provenance_models",
    "ratelimit",
]
