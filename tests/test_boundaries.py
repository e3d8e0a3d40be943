"""The one transaction rule, checked on the source: only repositories (and core's own
infrastructure) run SQL, and only the runners of units of work (routes, tasks, CLIs, flow
steps, the composition root) open or end transactions. import-linter checks the import
boundaries and ruff bans SQL constructs outside repositories; this checks what those cannot
see: calls on a session or a connection."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "atelier"

SQL_CALLS = {
    "execute",
    "scalar",
    "scalars",
    "get",
    "add",
    "add_all",
    "delete",
    "flush",
    "merge",
    "refresh",
    "stream",
    "stream_scalars",
}
TRANSACTION_CALLS = {"begin", "begin_nested", "commit", "rollback"}
UNIT_OPENERS = {"unit_of_work", "autocommit"}
RECEIVERS = {"session", "conn", "connection"}

# Core's infrastructure is the repository of its own tables (the outbox, flows, idempotency
# keys, rate limits) and the place units of work are made.
CORE_INFRASTRUCTURE = {
    "core/" + name
    for name in (
        "events.py",
        "realtime.py",  # the outbox's live reader: it runs its own reads
        "flows.py",
        "idempotency.py",
        "ratelimit.py",
        "repository.py",
        "transactions.py",
        "tasks.py",
        "db.py",
        "migrate.py",
        "embedded.py",
        "startup.py",
        "cli.py",
    )
}
UNIT_RUNNERS = {
    "api.py",
    "actions.py",
    "pages.py",
    "cli.py",
    "tasks.py",
    "flows.py",
    "scheduled.py",
    "results.py",
    "watching.py",
    "voting.py",
    "deps.py",
    "cookies.py",
}


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if not relative.startswith("migrations/"):
            found.append((relative, ast.parse(path.read_text(), relative)))
    return found


def _calls(tree: ast.Module) -> list[tuple[int, str, str]]:
    """(line, receiver, method) of every `receiver.method(...)` call."""
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.unparse(node.func.value)
            calls.append((node.lineno, receiver, node.func.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.append((node.lineno, "", node.func.id))
    return calls


def _is_runner(relative: str) -> bool:
    return (
        relative in CORE_INFRASTRUCTURE
        or relative.startswith("server/")
        or relative.rsplit("/", 1)[-1] in UNIT_RUNNERS
    )


def test_only_repositories_run_sql() -> None:
    offenders = [
        f"{relative}:{line}: {receiver}.{method}()"
        for relative, tree in _modules()
        if not relative.endswith("repository.py") and relative not in CORE_INFRASTRUCTURE
        for line, receiver, method in _calls(tree)
        if receiver in RECEIVERS and method in SQL_CALLS
    ]
    assert offenders == [], "SQL outside a repository:\n" + "\n".join(offenders)


def test_only_units_of_work_open_transactions() -> None:
    offenders = [
        f"{relative}:{line}: {receiver + '.' if receiver else ''}{method}()"
        for relative, tree in _modules()
        if not _is_runner(relative)
        for line, receiver, method in _calls(tree)
        if (receiver in RECEIVERS and method in TRANSACTION_CALLS)
        or (not receiver and method in UNIT_OPENERS)
        or method == "sessions"
        or (receiver.endswith(".hot") and method == "connection")
    ]
    assert offenders == [], "a transaction opened outside a unit of work:\n" + "\n".join(offenders)


def test_the_checks_see_what_they_look_for() -> None:
    """The checker itself: it finds a service that commits and one that queries."""
    tree = ast.parse(
        "async def f(session, runtime):\n"
        "    async with runtime.sessions() as s: pass\n"
        "    await session.execute(1)\n"
        "    await session.commit()\n"
    )
    found = {(receiver, method) for _, receiver, method in _calls(tree)}
    assert {("runtime", "sessions"), ("session", "execute"), ("session", "commit")} <= found
