"""A local stand-in for Stripe's API, speaking its protocol for what Atelier calls: `POST
/v1/transfers`, form-encoded, a secret key as bearer token, Stripe's idempotency (the same
`Idempotency-Key` with the same parameters replays the first answer; with other parameters
it is an `idempotency_error`), and Stripe's error bodies (`resource_missing` for an unknown
destination, `api_error` for an outage)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class StripeState:
    key: str
    accounts: set[str]
    transfers: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[str, tuple[dict[str, str], int, dict[str, Any]]] = field(default_factory=dict)
    outages: int = 0  # the next N calls answer 500 api_error
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **({"code": code} if code else {})}}


def _transfer(state: StripeState, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if state.outages > 0:
        state.outages -= 1
        return 500, _error("api_error", "An unknown error occurred")
    if params.get("destination") not in state.accounts:
        message = f"No such destination: '{params.get('destination')}'"
        return 400, _error("invalid_request_error", message, "resource_missing")
    if not params.get("amount", "").isdigit() or int(params["amount"]) <= 0:
        return 400, _error(
            "invalid_request_error", "Invalid positive integer", "parameter_invalid_integer"
        )
    transfer = {
        "id": f"tr_{uuid.uuid4().hex[:24]}",
        "object": "transfer",
        "amount": int(params["amount"]),
        "currency": params["currency"],
        "destination": params["destination"],
        "transfer_group": params.get("transfer_group"),
        "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
    }
    state.transfers.append(transfer)
    return 200, transfer


def handler_for(state: StripeState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any], replayed: bool = False) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            params = dict(parse_qsl(self.rfile.read(length).decode()))
            if self.headers.get("Authorization") != f"Bearer {state.key}":
                self._answer(401, _error("invalid_request_error", "Invalid API Key provided"))
                return
            if self.path != "/v1/transfers":
                self._answer(404, _error("invalid_request_error", "Unrecognized request URL"))
                return
            key = self.headers.get("Idempotency-Key")
            with state.lock:
                if key and key in state.replies:
                    first_params, status, body = state.replies[key]
                    if first_params != params:
                        self._answer(
                            400,
                            _error(
                                "idempotency_error",
                                "Keys for idempotent requests can only be used with the same parameters",
                            ),
                        )
                    else:
                        self._answer(status, body, replayed=True)
                    return
                status, body = _transfer(state, params)
                if key and status != 500:  # Stripe does not keep 500s
                    state.replies[key] = (params, status, body)
            self._answer(status, body)

    return Handler


@contextmanager
def stripe_api(key: str, accounts: set[str]) -> Iterator[tuple[str, StripeState]]:
    state = StripeState(key, accounts)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
