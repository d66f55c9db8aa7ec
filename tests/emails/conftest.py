"""A real SMTP server for the email tests: aiosmtpd on 127.0.0.1, on a free port, in a thread
of its own, that keeps every message it accepts and signs in one account."""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "crm@minhphat.vn"
SMTP_PASSWORD = "mật-khẩu-smtp-🔑"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    port: int
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def settings(self, **changes: Any) -> dict[str, Any]:
        """A body for `PUT /mail-settings` pointing at this server."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            "from_email": "crm@minhphat.vn",
            "from_name": "Ô tô Minh Phát",
            **changes,
        }


class _Keeper:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self.server.lock:
            self.server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 OK"


def _authenticator(
    _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
) -> AuthResult:
    good = (
        isinstance(data, LoginPassword)
        and data.login.decode() == SMTP_USER
        and data.password.decode() == SMTP_PASSWORD
    )
    return AuthResult(success=good, handled=False)  # aiosmtpd answers 535 itself


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port())
    controller = Controller(
        _Keeper(server),
        hostname="127.0.0.1",
        port=server.port,
        authenticator=_authenticator,
        auth_require_tls=False,  # a test server on loopback: no certificate to offer
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
