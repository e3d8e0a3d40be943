"""Checking a listening port before starting a server on it."""

from __future__ import annotations

import socket


class PortInUse(Exception):
    pass


def ensure_port_free(host: str, port: int) -> None:
    """Fail before starting anything when the port is taken (uvicorn would exit mid-startup)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
