"""Settings parsing, first-run secrets, log redaction, mail adapters."""

from __future__ import annotations

import asyncio
import email
import io
import logging
import stat
import sys
from pathlib import Path

import httpx
import pytest
import structlog
from aiosmtpd.controller import Controller
from fastapi import Request
from pydantic import ValidationError

from atelier.core.config import Settings, parse_rate
from atelier.core.db import redact_url
from atelier.core.logging import configure_logging
from atelier.core.mail import MailboxMailer, SmtpMailer
from atelier.core.runtime import Runtime
from atelier.core.secrets import load_or_create_secret
from atelier.server.app import create_app
from tests.servers import free_port


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path))
    monkeypatch.setenv("ATELIER_PORT", "9090")
    monkeypatch.setenv("ATELIER_QUOTA_PER_ROLE", '{"validator": 50}')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.home == tmp_path
    assert settings.origin == "http://localhost:9090"
    assert settings.domain == "localhost:9090"
    assert settings.quota_for_roles(["creator", "validator"]) == 50


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        Settings(_env_file=None, rate_limit_auth="lots")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown roles"):
        Settings(_env_file=None, quota_per_role={"wizard": 3})  # type: ignore[call-arg]
    assert parse_rate("20 / minute") == (20, 60)


def test_secret_created_once_with_private_mode(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "secrets", "jwt.key")
    second = load_or_create_secret(tmp_path / "secrets", "jwt.key")
    assert first == second
    assert len(first) == 32
    assert stat.S_IMODE((tmp_path / "secrets" / "jwt.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700


def test_logs_never_print_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json=True)
    structlog.get_logger("t").info("login", password="hunter2hunter2", api_key="atl_live_x")
    err = capsys.readouterr().err
    assert "hunter2hunter2" not in err
    assert "atl_live_x" not in err
    assert redact_url("postgresql://u:s3cret@db/x") == "postgresql://u:***@db/x"


def test_stdlib_logs_follow_the_current_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CLI run under a test runner configures logging while stderr is a temporary stream;
    later log lines must go to the stderr of the moment, not to that closed stream."""
    temporary = io.StringIO()
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stderr", temporary)
        configure_logging("info")
    temporary.close()
    logging.getLogger("httpx").warning("after the swap")
    logging.getLogger("atelier.test").info("still here")
    err = capsys.readouterr().err
    assert "Logging error" not in err
    assert "still here" in err


async def test_mailbox_adapter_writes_private_eml(tmp_path: Path) -> None:
    mailer = MailboxMailer(tmp_path / "mailbox", "Atelier <noreply@example.org>")
    await mailer.send("a@example.org", "Hello", "Body text")
    [path] = list((tmp_path / "mailbox").glob("*.eml"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "a@example.org"
    assert message["Subject"] == "Hello"


class _Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(
            (envelope.mail_from, envelope.rcpt_tos, envelope.content)  # type: ignore[attr-defined]
        )
        return "250 OK"


async def test_smtp_adapter_against_a_real_smtp_server() -> None:
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{port}", "Atelier <noreply@example.org>")
        message_id = await mailer.send("b@example.org", "Verify", "Click the link")
    finally:
        controller.stop()
    await asyncio.sleep(0)
    [(sender, recipients, content)] = collector.messages
    assert sender == "noreply@example.org"
    assert recipients == ["b@example.org"]
    parsed = email.message_from_bytes(content)
    assert parsed["Message-ID"] == message_id
    assert "Click the link" in parsed.get_payload()
    with pytest.raises(ValueError, match="smtp://"):
        SmtpMailer.from_url("http://mail.example.org", "x@example.org")


@pytest.mark.parametrize(
    ("level", "json_logs"), [("info", False), ("debug", False), ("info", True), ("debug", True)]
)
async def test_a_failing_route_leaks_no_secret_into_the_log(
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    runtime: Runtime,
    level: str,
    json_logs: bool,
) -> None:
    """A 500's traceback used to print local variables (rich's console traceback), the request's
    Authorization header among them; the key and token also ride in the exception's text."""
    key = "atl_live_" + "ab12" * 12
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXN0dWZm"
    configure_logging(level, json_logs)
    app = create_app(settings, runtime=runtime)

    @app.get("/test/explode")
    async def explode(request: Request) -> None:
        authorization = request.headers["authorization"]  # a local the old traceback showed
        password = "Correct-Horse-9-Battery"  # another local, and shaped like nothing
        assert password
        raise RuntimeError(f"could not use {authorization} or {token}")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=settings.origin) as http:
        response = await http.get("/test/explode", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal"
    err = capsys.readouterr().err
    assert "http.unhandled" in err and "RuntimeError" in err  # the failure is still logged
    for secret in (key, key[9:], token, "Correct-Horse-9-Battery"):
        assert secret not in err, (level, json_logs)
    configure_logging("info")


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"`ATELIER_{n.upper()}`" not in readme]
    assert missing == []


def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from atelier.cli import app
    from tests.servers import atelier_env

    for name, value, says in (
        ("ATELIER_GRID_LEASE_MIN_S", "0", "greater than or equal to 1"),
        ("ATELIER_PORT", "abc", "valid integer"),
        ("ATELIER_WALLET_KEY", "x" * 64, None),
    ):
        result = CliRunner().invoke(
            app, ["up"], env=atelier_env(tmp_path, **{name: value}, COLUMNS="300")
        )
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {name}"), result.output
        if says:
            assert says in lines[0]
