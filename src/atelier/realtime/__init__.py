"""Realtime (AiNFT's Socket.io, seed 001): the outbox's client-facing events, live, over
WebSocket, server-sent events and Socket.IO, each client seeing only what its credential
may (core/realtime.py holds the per-process hub)."""

from atelier.core.modules import Module

MODULE = Module(
    name="realtime",
    routers=("atelier.realtime.api:router",),
    mounts=("/socket.io=atelier.realtime.socketio:app",),
)
