"""The seed's manual scripts as commands: add a donation, import donations from CSV (all or
none, idempotent by reference), a month's report, and a pg_dump backup that reads back."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from pathlib import Path

from typer.testing import CliRunner, Result

from atelier.cli import app
from atelier.core.embedded import postgres_tool
from atelier.economy import money
from tests.economy.helpers import Ledger

runner = CliRunner()


async def _run(ledger: Ledger, *args: str) -> Result:
    env = {"ATELIER_DATABASE_URL": ledger.url, "ATELIER_HOME": str(ledger.home)}
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


async def _bank(ledger: Ledger) -> int:
    balances = await ledger.run(money.balances)
    return balances.get(("Assets:Clearing:Bank", "USD"), 0)


async def test_add_and_import_donations_once(ledger: Ledger, tmp_path: Path) -> None:
    added = await _run(ledger, "economy", "donation", "add", "25.00", "--reference", "SEPA-1")
    assert added.exit_code == 0 and "SEPA-1: applied" in added.output, added.output
    again = await _run(ledger, "economy", "donation", "add", "25.00", "--reference", "SEPA-1")
    assert "SEPA-1: duplicate" in again.output
    for bad, said in (
        (["10.005"], "at most two decimals"),
        (["--", "-1.00"], "at most two decimals"),
        (["1.00", "--source", "bank!"], "not a source name"),
        (["1.00", "--date", "2999-01-01"], "in the future"),
        (["1.00", "--currency", "JPY"], "no minor units"),
    ):
        refused = await _run(ledger, "economy", "donation", "add", "--reference", "R-x", *bad)
        assert refused.exit_code == 2 and said in refused.output, refused.output
    assert await _bank(ledger) == 2_500

    good = tmp_path / "donations.csv"
    good.write_text(
        "date,amount,currency,source,reference\n"
        "2026-11-03,10.00,USD,Bank,SEPA-1\n"
        "2026-11-04,7.50,USD,Bank,SEPA-2\n"
        "2026-11-05,100,EUR,Open-Collective,OC-9\n",
        encoding="utf-8-sig",
    )
    imported = await _run(ledger, "economy", "donation", "import", str(good))
    assert "2 recorded, 1 already recorded" in imported.output, imported.output
    again = await _run(ledger, "economy", "donation", "import", str(good))
    assert "0 recorded, 3 already recorded" in again.output
    assert await _bank(ledger) == 2_500 + 750

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,amount,currency,source,reference\n"
        "2026-11-03,1.00,USD,Bank,OK-1\n"
        "2026-13-01,1.00,USD,Bank,BAD-1\n"
        "2026-11-03,1.001,USD,Bank,BAD-2\n"
    )
    refused = await _run(ledger, "economy", "donation", "import", str(bad))
    assert refused.exit_code == 2
    assert "line 3" in refused.output and "line 4" in refused.output
    assert "nothing was recorded" in refused.output
    for name, content, said in (
        ("nul.csv", b"date,amount\x00", "NUL"),
        ("header.csv", b"when,how much\n1,2\n", "names the columns"),
        ("latin1.csv", "date,amount\ncaf\xe9".encode("latin-1"), "not UTF-8"),
        ("field.csv", b'date,amount,currency,source,reference\n"' + b"x" * 200_000 + b'"\n', "CSV"),
    ):
        hostile = tmp_path / name
        hostile.write_bytes(content)
        answer = await _run(ledger, "economy", "donation", "import", str(hostile))
        assert answer.exit_code == 2 and said in answer.output, answer.output
    assert await _bank(ledger) == 2_500 + 750  # nothing of the refused files

    report = await _run(ledger, "economy", "report", "2026-11")
    assert report.exit_code == 0 and "Open-Collective" in report.output, report.output


async def test_backup_reads_back(ledger: Ledger, tmp_path: Path) -> None:
    await _run(ledger, "economy", "donation", "add", "5.00", "--reference", "B-1")
    out = tmp_path / "atelier.dump"
    backed = await _run(ledger, "db", "backup", "--out", str(out))
    assert backed.exit_code == 0, backed.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    listed = subprocess.run(
        [postgres_tool("pg_restore"), "--list", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "TABLE DATA public money_postings" in listed.stdout
