"""Decoding untrusted media in a child process with memory and time limits.

Header checks (`storage.media.probe`) refuse files that declare too much; this is the
second line, for files that lie in their headers or hit a decoder's weak spot. The work runs
in a process forked from a forkserver that has already imported the media libraries (a fork
costs milliseconds), under RLIMIT_AS (its address space now plus `memory_bytes`, inherited by
the FFmpeg and fpcalc it runs) and a wall-clock timeout after which it is killed. A decoder
that runs out of memory, overruns its time or crashes outright takes only the child with it;
the caller gets `MediaRefused`. The event loop never waits: `run_limited` is awaited, and at
most `os.cpu_count()` children decode at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

import anyio

from atelier.core.config import Settings
from atelier.storage.media import MediaRefused

T = TypeVar("T")

# Imported once by the forkserver, so each child starts with them loaded (a child imports what
# it runs before it can start: seconds for a heavy module). Modules that run code here add
# themselves with `preload(__name__)` when they are imported, before the first call.
PRELOAD = ["numpy", "PIL.Image", "av", "pdqhash", "atelier.storage.media"]


def preload(*modules: str) -> None:
    for module in modules:
        if module not in PRELOAD:
            PRELOAD.append(module)


@dataclass(frozen=True)
class Budget:
    memory_bytes: int = 1 << 30
    timeout_s: float = 120.0

    @classmethod
    def of(cls, settings: Settings) -> Budget:
        return cls(settings.media_memory_bytes, settings.media_timeout_s)


_context: Any = None
_context_lock = threading.Lock()
_limiter: anyio.CapacityLimiter | None = None


def _forkserver() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _context = context
        return _context


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...], memory: int) -> None:
    os.setpgid(0, 0)  # a group of its own: a timeout kills the FFmpeg or fpcalc it started too
    limit = _address_space_bytes() + memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except MemoryError:
        result = ("refused", f"decoding needs more than {memory // (1 << 20)} MiB")
    except MediaRefused as exc:
        result = ("refused", exc.reason)
    except Exception as exc:  # sent back whole: the caller decides what it means
        result = ("error", exc)
    try:
        conn.send(result)
    except BrokenPipeError:  # the caller gave up waiting (a timeout)
        return
    except Exception as exc:  # an unpicklable exception: its text is enough
        conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    conn.close()


def call_limited(fn: Callable[..., T], *args: Any, budget: Budget = Budget()) -> T:
    """`fn(*args)` in a sandboxed child (module docstring); blocks the calling thread."""
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, fn, args, budget.memory_bytes))
    child.start()
    sender.close()
    try:
        if not receiver.poll(budget.timeout_s):
            raise MediaRefused(f"decoding took longer than {budget.timeout_s:g} s")
        try:
            status, value = receiver.recv()
        except EOFError:
            raise MediaRefused("the decoder crashed on this file") from None
    finally:
        receiver.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)  # the child's group: what it started too
        if child.is_alive():  # not yet in a group of its own (still loading what it runs)
            child.kill()
        child.join()
    if status == "refused":
        raise MediaRefused(str(value))
    if status == "error":
        raise value
    result: T = value
    return result


async def run_limited(fn: Callable[..., T], *args: Any, budget: Budget = Budget()) -> T:
    """`call_limited` from async code: in a thread, a bounded number at a time."""
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))

    def call() -> T:
        return call_limited(fn, *args, budget=budget)

    return await anyio.to_thread.run_sync(call, limiter=_limiter)
