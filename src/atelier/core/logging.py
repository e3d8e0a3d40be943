"""structlog configuration: request ids in every line, secrets never printed."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# A field whose name contains one of these is masked whatever it holds.
SENSITIVE_KEY_PARTS = (
    "password",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "authorization",
    "cookie",
    "signature",
    "database_url",
    "wallet_key",
    "smtp_url",
    "jwt",
)
# Secrets recognisable by their shape, wherever they appear in a line (an exception's message,
# a formatted traceback, a URL): masked in every string of every event.
SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"atl_live_[0-9a-fA-F]{8,}"), "atl_live_***"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s'\",;]+"), r"\1\2***"),
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+"), "***"),
    (re.compile(r"(?i)([?&;](?:[a-z_]*token|api_?key|key|password|secret)=)[^&\s'\"]+"), r"\1***"),
    (
        re.compile(
            r"(?i)\b((?:[a-z_]*token|api_?key|password|passphrase|secret)['\"]?\s*[:=]\s*['\"]?)"
            r"[^\s'\",}]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"\b(?:whsec|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9]+"), "***"),
)


def scrub(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: "***" if is_sensitive(k) else _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


def is_sensitive(key: object) -> bool:
    name = str(key).lower()
    return any(part in name for part in SENSITIVE_KEY_PARTS)


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence, after exceptions are formatted to text: a secret passed to a
    logger by mistake, or carried in an exception's message, is masked by name and by shape.
    Tracebacks never show local variables (where request headers live)."""
    for key in list(event_dict):
        event_dict[key] = "***" if is_sensitive(key) else _scrubbed(event_dict[key])
    return event_dict


class _CurrentStderr:
    """Writes to whatever sys.stderr is now (test runners and daemons swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", json: bool = False) -> None:
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # plain text (no locals) before redaction, so the redaction sees the traceback too
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("uvicorn.access", "pgserver", "procrastinate", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
