"""Every table of every module, in one metadata, for Alembic and the test suite."""

from atelier.core.db import Base
from atelier.server.modules import load_models

load_models()
metadata = Base.metadata

__all__ = ["metadata"]
