"""TOTP (RFC 6238) for the second login step: enrolment secrets, code checks without replay, and the
short-lived single-use `tmp_token`s that link the password step to the code step.

In-process state on an injected clock, no I/O. Several API processes would each keep their own pending
logins: a login then has to finish on the process that started it (issue 9 may move this to the store).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp

from gatewayd.clock import Clock

TMP_TOKEN_TTL_S = 300.0
MAX_CODE_FAILURES = 5
MAX_PENDING = 10_000
TOTP_ISSUER = "SimRelay"
TOTP_STEP_S = 30
# RFC 6238 §5.2: accept one step either side for clock drift between server and phone.
TOTP_VALID_WINDOW = 1


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The `otpauth://totp/...` URI authenticator apps scan (Google Authenticator key URI format)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


@dataclass
class PendingLogin:
    user_id: int
    device_name: str
    expires_at: float  # monotonic seconds
    failures: int = 0


def _key(tmp_token: str) -> str:
    # Stored hashed, like every other credential: a memory dump does not hand out live tmp_tokens.
    return hashlib.sha256(tmp_token.encode("utf-8", "surrogatepass")).hexdigest()


class PendingLogins:
    """Password checked, code not yet: tmp_token → user, valid TMP_TOKEN_TTL_S and used at most once."""

    def __init__(self, clock: Clock, ttl_s: float = TMP_TOKEN_TTL_S) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._pending: dict[str, PendingLogin] = {}

    def open(self, user_id: int, device_name: str) -> str:
        self._prune()
        tmp_token = secrets.token_urlsafe(32)
        self._pending[_key(tmp_token)] = PendingLogin(user_id, device_name,
                                                      self._clock.monotonic() + self._ttl_s)
        return tmp_token

    def peek(self, tmp_token: str) -> PendingLogin | None:
        """The pending login if the token is live; expired ones are forgotten on sight."""
        key = _key(tmp_token)
        pending = self._pending.get(key)
        if pending is not None and pending.expires_at <= self._clock.monotonic():
            del self._pending[key]
            return None
        return pending

    def spend(self, tmp_token: str) -> bool:
        """Use the token up; False when it was already spent or has expired."""
        return self.peek(tmp_token) is not None and self._pending.pop(_key(tmp_token), None) is not None

    def count_failure(self, tmp_token: str) -> None:
        """A wrong code; after MAX_CODE_FAILURES the token is spent, so codes cannot be guessed."""
        pending = self.peek(tmp_token)
        if pending is not None:
            pending.failures += 1
            if pending.failures >= MAX_CODE_FAILURES:
                del self._pending[_key(tmp_token)]

    def _prune(self) -> None:
        if len(self._pending) < MAX_PENDING:
            return
        now = self._clock.monotonic()
        for key in [key for key, pending in self._pending.items() if pending.expires_at <= now]:
            del self._pending[key]
        if len(self._pending) >= MAX_PENDING:
            del self._pending[min(self._pending, key=lambda key: self._pending[key].expires_at)]


class TotpVerifier:
    """Checks 6-digit codes at the clock's time, ±1 step, and refuses a code (time step) already used
    by the same user (RFC 6238 §5.2: a verifier must not accept the same OTP twice)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_step: dict[int, int] = {}

    def accept(self, user_id: int, secret: str, code: str) -> bool:
        digits = code.replace(" ", "")
        if len(digits) != 6 or not digits.isascii() or not digits.isdigit():  # noqa: PLR2004
            return False
        totp = pyotp.TOTP(secret)
        now_step = int(self._clock.now().timestamp()) // TOTP_STEP_S
        for step in range(now_step - TOTP_VALID_WINDOW, now_step + TOTP_VALID_WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), digits):
                if step <= self._last_step.get(user_id, -1):
                    return False
                self._last_step[user_id] = step
                return True
        return False
