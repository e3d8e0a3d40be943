"""The `ledger` fixture: a fresh database per test, escrow off unless a test asks for it
(`@pytest.mark.parametrize("ledger", [{"economy_escrow_days": 30}], indirect=True)`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_database, make_settings
from tests.economy.helpers import Ledger


@pytest.fixture
async def ledger(
    pg_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Ledger]:
    url = fresh_database(pg_server, request.node.name)
    overrides = {"economy_escrow_canaries": 0, "economy_escrow_days": 0}
    overrides |= getattr(request, "param", {})
    opened = Ledger(url, make_settings(tmp_path, url, **overrides))
    yield opened
    await opened.engine.dispose()
