"""Talking to the workspace's SMTP server with aiosmtplib, from the worker only: the message as
it goes out (UTF-8 headers encoded as RFC 2047 asks, a text and an HTML part, a stable
Message-ID, List-Unsubscribe on marketing mail), a send, and a check that connects and signs
in. Every failure comes back as `SmtpFailure`, saying whether trying later may help."""

import functools
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from app.core.models import utcnow

# One SMTP conversation's longest wait on the server (connect, each command).
TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: str  # none, starttls, tls
    username: str | None
    password: str | None


@dataclass(frozen=True)
class Outgoing:
    from_email: str
    from_name: str | None
    to_email: str
    to_name: str | None
    subject: str
    body_text: str
    body_html: str
    message_id: str
    unsubscribe_url: str | None


class SmtpFailure(Exception):
    """`reason` is for people (it ends up on the email); `transient` when the server may take
    it later (a 4xx answer, a connection refused or timed out)."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def _address(email: str, name: str | None) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


def build_message(out: Outgoing) -> EmailMessage:
    message = EmailMessage()
    message["From"] = _address(out.from_email, out.from_name)
    message["To"] = _address(out.to_email, out.to_name)
    message["Subject"] = out.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = out.message_id
    if out.unsubscribe_url is not None:
        # RFC 8058: mail clients unsubscribe with one POST, no page in between.
        message["List-Unsubscribe"] = f"<{out.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if out.body_text:
        message.set_content(out.body_text, charset="utf-8")
        if out.body_html:
            message.add_alternative(out.body_html, subtype="html", charset="utf-8")
    else:  # an HTML-only email: one part, not an empty text alternative
        message.set_content(out.body_html, subtype="html", charset="utf-8")
    return message


def _client(server: Server) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.security == "tls",
        # Never upgraded behind the settings' back: `none` means plain, `starttls` insists.
        start_tls=server.security == "starttls",
        timeout=TIMEOUT_SECONDS,
        tls_context=_tls_context(),
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Made once a process: reading the system's certificate authorities takes ~17 ms of CPU
    # on the event loop, which every email paid when it was made per connection.
    return ssl.create_default_context()


def _failure(error: Exception) -> SmtpFailure:
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return SmtpFailure(
            f"the server refused the sign-in ({error.code} {error.message})", transient=False
        )
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [e.code for e in error.recipients]
        reasons = "; ".join(f"{e.code} {e.message}" for e in error.recipients)
        return SmtpFailure(
            f"the server refused the recipient ({reasons})",
            transient=all(400 <= c < 500 for c in codes),
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return SmtpFailure(
            f"the server answered {error.code} {error.message}", transient=400 <= error.code < 500
        )
    if isinstance(error, aiosmtplib.SMTPConnectTimeoutError | aiosmtplib.SMTPTimeoutError):
        return SmtpFailure("the server did not answer in time", transient=True)
    if isinstance(error, aiosmtplib.SMTPConnectError | OSError):
        return SmtpFailure(f"could not connect to the server ({error})", transient=True)
    if isinstance(error, aiosmtplib.SMTPException) and "STARTTLS" in str(error):
        # The settings ask for an upgrade the server does not offer: waiting will not mend it.
        return SmtpFailure(
            "the server does not offer STARTTLS (set `security` to `tls` or `none`)",
            transient=False,
        )
    if isinstance(error, aiosmtplib.SMTPException):
        return SmtpFailure(f"SMTP error ({error})", transient=True)
    return SmtpFailure(f"{type(error).__name__}: {error}", transient=True)


async def _signed_in(client: aiosmtplib.SMTP, server: Server) -> None:
    await client.connect()
    if server.username and server.password is not None:
        await client.login(server.username, server.password)


async def send(server: Server, message: EmailMessage) -> None:
    client = _client(server)
    try:
        await _signed_in(client, server)
        await client.send_message(message)
    except Exception as error:
        raise _failure(error) from error
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except Exception:
                client.close()


async def check(server: Server) -> None:
    """Connect, say hello, switch to TLS as set, sign in, and leave: no email sent."""
    client = _client(server)
    try:
        await _signed_in(client, server)
    except Exception as error:
        raise _failure(error) from error
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except Exception:
                client.close()
