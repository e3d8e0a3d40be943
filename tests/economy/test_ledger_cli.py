"""`atelier ledger credit|debit|balance` on the database, and what it refuses."""

from __future__ import annotations

from eth_account import Account
from typer.testing import CliRunner

from atelier.cli import app

runner = CliRunner()


def test_credit_debit_balance_and_refusals(database_url: str) -> None:
    env = {"ATELIER_DATABASE_URL": database_url}
    wallet = Account.create().address

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["ledger", *args], env=env)
        return result.exit_code, result.output

    assert run("credit", wallet.lower(), "16", "--memo", "contributor") == (
        0,
        f"{wallet}: balance 16\n",
    )
    code, output = run("debit", wallet, "20")
    assert code == 2 and "holds less than 20" in output
    assert run("balance", wallet) == (0, f"{wallet}: balance 16\n")  # nothing was lost
    assert run("debit", wallet, "6")[0] == 0
    assert run("balance", wallet) == (0, f"{wallet}: balance 10\n")
    code, output = run("credit", "0xnope", "5")
    assert code == 2 and "not an EVM address" in output
    assert run("credit", wallet, "0")[0] == 2  # amounts are at least 1
    code, output = run("credit", wallet, "5", "--memo", "m" * 201)
    assert code == 2 and "at most 200 characters" in output
    assert run("balance", wallet) == (0, f"{wallet}: balance 10\n")
