"""Email to device owners (BYOS "device offline"), sent with aiosmtplib to the configured SMTP server.

Sending never raises into the caller: a failure is logged and reported as False, so the sweep can retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import aiosmtplib

from gatewayd.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpOptions:
    """The `[smtp]` settings. `host` None: no email is sent (the sweep still marks devices offline)."""

    host: str | None = None
    port: int = 25
    username: str | None = None
    password: str | None = None
    sender: str = "SimRelay <noreply@simrelay.invalid>"
    starttls: bool = False
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:  # noqa: PLR2004
            raise ConfigError("SmtpOptions", "port", f"must be 1..65535, got {self.port}")
        if self.timeout_s <= 0:
            raise ConfigError("SmtpOptions", "timeout_s", f"must be positive, got {self.timeout_s}")


@dataclass(frozen=True)
class OfflineNotice:
    email: str
    user_name: str
    device_id: int
    device_name: str
    silent_s: int
    last_seen_at: datetime | None


class OfflineNotifier:
    def __init__(self, options: SmtpOptions) -> None:
        self._options = options

    async def device_offline(self, notice: OfflineNotice) -> bool:
        """Send the one "device offline" email of an outage; True when the server accepted it."""
        options = self._options
        if options.host is None:
            return True  # email switched off: nothing to retry
        message = EmailMessage()
        message["From"] = options.sender
        message["To"] = notice.email
        message["Subject"] = f"SimRelay: {notice.device_name} is offline"
        last_seen = notice.last_seen_at.strftime("%Y-%m-%d %H:%M:%S UTC") if notice.last_seen_at else "never"
        message.set_content(
            f"Hello {notice.user_name},\n\nyour phone {notice.device_name} (device {notice.device_id}) "
            f"has not "
            f"sent a heartbeat for {notice.silent_s // 60} minutes (last seen {last_seen}). SMS to its SIM "
            f"cards are not forwarded until it is back online.\n\nCheck that the SimRelay app is running and "
            f"allowed to work in the background.\n"
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=options.host,
                port=options.port,
                username=options.username,
                password=options.password,
                start_tls=options.starttls,
                timeout=options.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("offline email for device %s to %s failed: %r", notice.device_id, notice.email, exc)
            return False
        return True
