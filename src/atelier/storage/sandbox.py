"""Decoding untrusted media in a child process with memory and time limits.

Header checks (`storage.media.probe`) refuse files that declare too much; this is the
second line, for files that lie in their headers or hit a decoder's weak spot. Each call runs
in a process forked from a small fork server (a helper process of ours that imported the
media libraries once), so a child starts in milliseconds. The child runs under RLIMIT_AS (its
address space now plus `memory_bytes`, inherited by the FFmpeg and fpcalc it runs) and a
wall-clock timeout after which its whole process group is killed. A decoder that runs out of
memory, overruns its time or crashes outright takes only the child with it; the caller gets
`MediaRefused`. The event loop never waits: `run_limited` is awaited, and at most
`os.cpu_count()` children decode at once per process.

Why not `multiprocessing`'s forkserver: on Python 3.11 it re-runs the parent's main script in
every child (the preload of `__main__` is never passed to the server), which for the
`atelier` command is the whole CLI: about a second a decode.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio

from atelier.core.config import Settings
from atelier.storage.media import MediaRefused

T = TypeVar("T")

# Imported once by the fork server, so each child starts with them loaded. Modules that run
# code here add themselves with `preload(__name__)` when they are imported.
PRELOAD = ["numpy", "PIL.Image", "av", "pdqhash", "atelier.storage.media"]
_FRAME = struct.Struct("<Q")


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


# -- the caller's side ----------------------------------------------------------------------


class _ForkServer:
    """This process's fork server: started on first use, started again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.address = ""

    def ensure(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            if not self.address:  # a private directory (0700) for the socket
                directory = tempfile.mkdtemp(prefix="atelier-sandbox-")
                atexit.register(shutil.rmtree, directory, ignore_errors=True)
                self.address = str(Path(directory) / "socket")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
            ready_r, ready_w = os.pipe()
            env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [
                    sys.executable,
                    "-m",
                    "atelier.storage.sandbox",
                    self.address,
                    str(os.getpid()),
                    str(ready_w),
                    *PRELOAD,
                ],
                pass_fds=(ready_w,),
                env=env,
                stdin=subprocess.DEVNULL,
            )
            os.close(ready_w)
            with os.fdopen(ready_r, "rb") as ready:
                if ready.read(1) != b"1":
                    raise RuntimeError("the media sandbox's fork server did not start")


_server = _ForkServer()


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_FRAME.pack(len(payload)) + payload)


def _receive(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, _FRAME.size)
    if header is None:
        return None
    return _read_exactly(sock, _FRAME.unpack(header)[0])


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def call_limited(fn: Callable[..., T], *args: Any, budget: Budget = Budget()) -> T:
    """`fn(*args)` in a sandboxed child (module docstring); blocks the calling thread."""
    _server.ensure()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(_server.address)
        _send(sock, pickle.dumps((fn, args, budget.memory_bytes)))
        sock.settimeout(budget.timeout_s)
        child = 0
        try:
            pid = _receive(sock)
            if pid is None:
                raise MediaRefused("the decoder crashed on this file")
            child = int(pid)
            reply = _receive(sock)
        except TimeoutError:
            raise MediaRefused(f"decoding took longer than {budget.timeout_s:g} s") from None
        finally:
            if child:  # its group: what it started (FFmpeg, fpcalc) goes with it
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child, signal.SIGKILL)
    if reply is None:
        raise MediaRefused("the decoder crashed on this file")
    status, value = pickle.loads(reply)  # noqa: S301 - from our own child, over a private socket
    if status == "refused":
        raise MediaRefused(str(value))
    if status == "error":
        raise value
    result: T = value
    return result


_limiter: anyio.CapacityLimiter | None = None


async def run_limited(fn: Callable[..., T], *args: Any, budget: Budget = Budget()) -> T:
    """`call_limited` from async code: in a thread, a bounded number at a time."""
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))

    def call() -> T:
        return call_limited(fn, *args, budget=budget)

    return await anyio.to_thread.run_sync(call, limiter=_limiter)


# -- the fork server and its children ---------------------------------------------------------


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _run_child(conn: socket.socket) -> None:
    """In a forked child: run one request under its limits, answer, and exit."""
    os.setpgid(0, 0)  # a group of its own: a timeout kills the FFmpeg or fpcalc it started too
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _send(conn, str(os.getpid()).encode())
    request = _receive(conn)
    if request is None:
        return
    fn, args, memory = pickle.loads(request)  # noqa: S301 - from our own process
    limit = _address_space_bytes() + memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except MemoryError:
        result = ("refused", f"decoding needs more than {memory // (1 << 20)} MiB")
    except MediaRefused as exc:
        result = ("refused", exc.reason)
    except Exception as exc:  # sent back whole: the caller decides what it means
        result = ("error", exc)
    try:
        payload = pickle.dumps(result)
    except Exception as exc:  # an unpicklable result or exception: its text is enough
        payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    with contextlib.suppress(OSError):  # the caller may have given up (a timeout)
        _send(conn, payload)


def serve(address: str, parent: int, ready_fd: int, modules: list[str]) -> None:
    """The fork server: import `modules`, then fork a child per connection until `parent`
    is gone. Single-threaded, so forking it is safe."""
    for module in modules:
        with contextlib.suppress(ImportError):
            __import__(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    os.chmod(address, 0o600)
    listener.listen(64)
    listener.settimeout(1.0)
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    while os.getppid() == parent:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        if os.fork() == 0:
            listener.close()
            code = 0
            try:
                conn.settimeout(None)
                _run_child(conn)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
