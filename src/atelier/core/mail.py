"""Outgoing mail behind one interface: SMTP in production, a mailbox directory by default.

The mailbox adapter writes RFC 5322 `.eml` files (open them with any mail client) so a
laptop install can complete email verification with no mail server.
"""

from __future__ import annotations

import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import anyio

from atelier.core.secrets import write_private_file


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> str:
        """Deliver a plain-text message; return its Message-ID."""
        ...


def build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="atelier.localhost")
    # 7bit/8bit rather than quoted-printable, so links stay intact in the raw .eml file
    message.set_content(body, cte="7bit" if body.isascii() else "8bit")
    return message


class MailboxMailer:
    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, to: str, subject: str, body: str) -> str:
        message = build_message(self.sender, to, subject, body)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        # Messages carry single-use links: readable by the operator only.
        write_private_file(self.directory / name, bytes(message))
        return str(message["Message-ID"])


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        implicit_tls: bool = False,
        starttls: bool = False,
        timeout_s: float = 15.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.implicit_tls, self.starttls, self.timeout_s = implicit_tls, starttls, timeout_s

    @classmethod
    def from_url(cls, url: str, sender: str) -> SmtpMailer:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("ATELIER_SMTP_URL must look like smtp://user:pass@host:port")
        query = parse_qs(parts.query)
        return cls(
            parts.hostname,
            parts.port or (465 if parts.scheme == "smtps" else 25),
            sender,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=parts.scheme == "smtps",
            starttls=query.get("starttls", ["0"])[0] in {"1", "true", "yes"},
        )

    def _send_blocking(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.username and self.password:
                client.login(self.username, self.password)
            client.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> str:
        message = build_message(self.sender, to, subject, body)
        await anyio.to_thread.run_sync(self._send_blocking, message)
        return str(message["Message-ID"])
