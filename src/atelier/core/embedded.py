"""The embedded PostgreSQL (pgserver) that `atelier up` starts when no URL is configured.

pgserver keeps a per-data-directory list of the processes holding a handle and stops the
server when the last one exits (including on Ctrl-C, through atexit), so several `atelier`
processes on one machine share one server and none of them leaves it orphaned. A process
that dies without exiting (SIGKILL, a crash) would stay on that list forever and keep every
later clean stop from stopping the server: the dead are struck off when a process joins and
again just before it leaves (`_forget_dead_handles`).
"""

from __future__ import annotations

import atexit
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

EMBEDDED_DATABASE = "atelier"


def start_embedded_postgres(home: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded server under `home/pgdata`; return a libpq URL."""
    os.environ.setdefault(
        "XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}")
    )
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        home.mkdir(parents=True, exist_ok=True)
        pgdata = home.resolve() / "pgdata"
        pgdata.mkdir(mode=0o700, exist_ok=True)
        _forget_dead_handles(pgdata)
        get_server: Any = getattr(pgserver, "get_server")  # noqa: B009 - untyped re-export
        server = get_server(pgdata, cleanup_mode="stop")
    if pgdata not in _WATCHED:  # atexit runs last-registered first: before pgserver's own
        _WATCHED.add(pgdata)
        atexit.register(_forget_dead_handles, pgdata)
    create_database_if_missing(server.get_uri(), database)
    return str(server.get_uri(database))


_WATCHED: set[Path] = set()


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _forget_dead_handles(pgdata: Path) -> None:
    """Strike processes that no longer run off pgserver's list of handles (module docstring)."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    with PostgresServer._lock:
        handles = DiskList(pgdata / ".handle_pids.json")
        pids = handles.get()
        alive = [pid for pid in pids if _running(pid)]
        if alive != pids:
            handles.put(alive)


def create_database_if_missing(admin_url: str, database: str, template: str | None = None) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists:
            return
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
        if template:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(database), sql.Identifier(template)
            )
        conn.execute(statement)


def postgres_tool(name: str) -> str:
    """A PostgreSQL client program (`pg_dump`, `pg_restore`): the newest of the one on PATH
    and the one pgserver ships (a newer pg_dump reads older servers, never the reverse)."""
    import re
    import shutil
    import subprocess

    import pgserver

    candidates = [
        str(path)
        for path in (
            Path(pgserver.__file__).parent / "pginstall" / "bin" / name,
            Path(shutil.which(name) or "/nonexistent"),
        )
        if path.exists()
    ]
    if not candidates:
        raise FileNotFoundError(f"{name} is neither on PATH nor bundled with pgserver")

    def major(program: str) -> int:
        shown = subprocess.run(  # noqa: S603 - PostgreSQL's own program, list argv
            [program, "--version"], capture_output=True, text=True, check=False
        ).stdout
        found = re.search(r"(\d+)\.\d+", shown)
        return int(found[1]) if found else 0

    return max(candidates, key=major)


def libpq_environment(url: str) -> dict[str, str]:
    """A libpq URL as PG* environment variables, so a password never appears in a
    program's arguments (which other users of the machine can read)."""
    from psycopg.conninfo import conninfo_to_dict

    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
        "sslmode": "PGSSLMODE",
    }
    return {
        names[key]: str(value)
        for key, value in conninfo_to_dict(url).items()
        if key in names and value is not None
    }
