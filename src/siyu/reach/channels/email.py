"""Email over SMTP (stdlib smtplib): a text part, an optional HTML part, and for marketing the
List-Unsubscribe header with its one-click form (RFC 8058), which mailbox providers show as an
unsubscribe button and which Siyu honours at once.

What happened is told apart by where the conversation broke: refused before the message
(connection, MAIL, RCPT) — nothing left, worth another try or failed for good by the reply
code (4xx / 5xx); broken while the message itself went over (DATA) — the relay may have it:
ambiguous. SMTP cannot be asked afterwards, so such rows wait for an operator, never for an
automatic resend.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr

from siyu.reach.channels.base import Delivery, Outgoing, SendResult


@dataclass
class SmtpEmail:
    """One mail relay and the From address messages go out with."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    security: str = "none"  # none | starttls | tls
    timeout: float = 15.0

    name = "email"
    reconcilable = False  # an SMTP relay cannot be asked about a message afterwards
    absence_proves_unsent = False

    def _domain(self) -> str:
        address = parseaddr(self.sender)[1]
        return address.rpartition("@")[2] or "siyu.local"

    def build(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.parts.get("subject", "")
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.ref}.siyu@{self._domain()}>"
        unsubscribe = message.extra.get("unsubscribe")
        if unsubscribe:
            mail["List-Unsubscribe"] = f"<{unsubscribe}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message.parts.get("text", ""))
        if message.parts.get("html"):
            mail.add_alternative(message.parts["html"], subtype="html")
        return mail

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: Outgoing) -> SendResult:
        mail = self.build(message)
        sender = parseaddr(self.sender)[1]
        try:
            smtp = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult("retry", code="connect", error=str(exc)[:200], retry_after=60)
        try:
            try:
                smtp.ehlo_or_helo_if_needed()
                if self.username:
                    smtp.login(self.username, self.password)
                code, reply = smtp.mail(sender)
                if code != 250:
                    return _refused(code, reply)
                code, reply = smtp.rcpt(message.address)
                if code not in (250, 251):
                    return _refused(code, reply)
            except (OSError, smtplib.SMTPException) as exc:  # before the message: nothing left
                return SendResult("retry", code="smtp", error=str(exc)[:200], retry_after=60)
            try:
                # lines end in CRLF on the wire (smtplib leaves bytes as they are)
                code, reply = smtp.data(mail.as_bytes(policy=SMTP))
            except smtplib.SMTPResponseException as exc:
                return _refused(exc.smtp_code, exc.smtp_error)
            except (TimeoutError, OSError, smtplib.SMTPException) as exc:
                return SendResult("ambiguous", code="data", error=str(exc)[:200])
            if code != 250:  # the relay refused the message itself
                return _refused(code, reply)
            return SendResult("sent", provider_ref=str(mail["Message-ID"]), code=str(code))
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def delivery(self, address: str, ref: str, since: datetime) -> Delivery:
        return Delivery(False)


def _refused(code: int, reply: bytes | str) -> SendResult:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    if 400 <= code < 500:
        return SendResult("retry", code=str(code), error=text[:200], retry_after=300)
    return SendResult("failed", code=str(code), error=text[:200])
