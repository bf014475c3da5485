"""Email over SMTP: a plain-text message whose headers ticket text cannot reach.

The subject is the rendered message's first line with every line break and control character
flattened, and addresses are checked before use, so ticket text can never add a header or a recipient.
"""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from ._http import DeliveryError
from .channels import Delivery, Message
from .recipients import is_email
from .render import one_line
from .settings import CommsConfigError

SUBJECT_LIMIT = 200
SMTP_TIMEOUT = 15.0
TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to connect, from smtp://user:password@host:587?starttls=1 or smtps://host:465."""
    host: str
    port: int
    username: str = ""
    password: str = ""
    starttls: bool = False
    tls: bool = False           # implicit TLS from the first byte (smtps)

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
            raise CommsConfigError("ESCALATOR_SMTP_URL must look like smtp://user:password@host:587?starttls=1 "
                                   "or smtps://user:password@host:465")
        tls = parts.scheme == "smtps"
        starttls = (parse_qs(parts.query).get("starttls") or [""])[0].lower() in TRUTHY
        return cls(parts.hostname, port or (465 if tls else 25), unquote(parts.username or ""),
                   unquote(parts.password or ""), starttls and not tls, tls)

    def __str__(self) -> str:
        user = f"{self.username}:********@" if self.username else ""
        query = "?starttls=1" if self.starttls else ""
        return f"{'smtps' if self.tls else 'smtp'}://{user}{self.host}:{self.port}{query}"

    __repr__ = __str__


class EmailSender:
    """Sends a Message as one email to all of its addresses."""
    channel = "email"

    def __init__(self, smtp_url: str = "", sender: str = "", *, timeout: float = SMTP_TIMEOUT,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), tls_context: ssl.SSLContext | None = None):
        self.target = SmtpTarget.parse(smtp_url) if smtp_url else None
        self.sender, self.timeout, self._now, self.tls_context = sender.strip(), timeout, now, tls_context

    def build_request(self, message: Message) -> dict:
        """What dry-run shows; the password never appears."""
        return {"method": "SMTP", "url": str(self.target) if self.target else "(ESCALATOR_SMTP_URL unset)",
                "from": self.sender or "(ESCALATOR_SMTP_FROM unset)", "to": list(message.to),
                "subject": subject(message), "body": message.text.strip()}

    def build_email(self, message: Message) -> EmailMessage:
        """The email itself; raises DeliveryError (not retryable) for an unusable sender or address."""
        bad = [a for a in message.to if not is_email(a)]
        if not message.to or bad:
            raise DeliveryError(f"email: no valid recipient address (refused {bad!r})", retryable=False)
        domain = parseaddr(self.sender)[1].rpartition("@")[2]
        if not domain:
            raise DeliveryError("email: set ESCALATOR_SMTP_FROM to a sender address", retryable=False)
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = ", ".join(message.to)
        email["Subject"] = subject(message)
        email["Date"] = format_datetime(self._now())
        email["Message-ID"] = make_msgid(domain=domain)
        email["Auto-Submitted"] = "auto-generated"     # RFC 3834: no vacation replies into the loop
        if message.platform and message.ticket:
            email["X-Escalator-Ticket"] = one_line(f"{message.platform}:{message.ticket}")
        email.set_content(message.text.strip() + "\n")
        return email

    def send(self, message: Message) -> Delivery:
        if self.target is None:
            raise DeliveryError("email: set ESCALATOR_SMTP_URL", retryable=False)
        email = self.build_email(message)
        # Raised outside the except blocks, like the HTTP senders, to keep tracebacks short and credential-free.
        try:
            refused = self._deliver(email, message.to)
        except (smtplib.SMTPException, OSError) as exc:
            failure = smtp_failure(exc, str(self.target))
        else:
            return Delivery(self.channel, self.build_request(message), 250,
                            {a: f"{code} {_text(reply)}" for a, (code, reply) in refused.items()})
        raise failure

    def _deliver(self, email: EmailMessage, to: tuple[str, ...]) -> dict:
        target = self.target
        context = (self.tls_context or ssl.create_default_context()) if target.tls or target.starttls else None
        if target.tls:
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
        with client:
            if target.starttls:
                client.starttls(context=context)
            if target.username:
                client.login(target.username, target.password)
            return client.send_message(email, from_addr=parseaddr(self.sender)[1], to_addrs=list(to))


def subject(message: Message) -> str:
    """The first line, on one line and cut to size; the ticket and situation when the message has none."""
    text = one_line(message.title) or one_line(f"{message.ticket} {message.situation}") or "Escalator"
    return text if len(text) <= SUBJECT_LIMIT else text[:SUBJECT_LIMIT - 1] + "…"


def smtp_failure(exc: BaseException, shown: str) -> DeliveryError:
    """4xx replies, dropped connections and network errors are worth retrying; 5xx and bad setup are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {code for code, _ in exc.recipients.values()}
        detail = "; ".join(f"{a}: {code} {_text(reply)}" for a, (code, reply) in exc.recipients.items())
        return DeliveryError(f"SMTP {shown} refused every recipient: {detail}",
                             retryable=all(400 <= c < 500 for c in codes), status=min(codes, default=None))
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code > 0:
        return DeliveryError(f"SMTP {shown} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                             retryable=400 <= exc.smtp_code < 500, status=exc.smtp_code)
    if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError):
        return DeliveryError(f"SMTP {shown}: {exc}", retryable=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError | smtplib.SMTPConnectError):
        return DeliveryError(f"SMTP {shown} failed: {type(exc).__name__}: {exc}", retryable=True)
    return DeliveryError(f"SMTP {shown}: {exc}", retryable=False)


def _text(reply: bytes | str) -> str:
    return one_line(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)
