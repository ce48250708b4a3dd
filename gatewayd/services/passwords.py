"""Argon2id password hashing, run off the event loop (each hash costs tens of milliseconds of CPU).

Holds no state beyond the immutable hasher parameters.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2-cffi defaults: Argon2id, RFC 9106 "low memory" profile
# Verified against when the email is unknown, so a miss costs as much time as a wrong password. A literal
# (the hash of "simrelay: no such user" with the hasher's parameters; a test keeps them equal) because
# hashing at import took 64 MiB for a moment in every process that imports the services (issue 3, peak RSS).
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$cH7Pv/W9UVA/kZTSyvZbqQ$mPwyO8ntPLs4/1C+tIZvC9Vjd9OxZ7MQmjdv/7P+X+U"
)

MIN_PASSWORD_LENGTH = 8
# Stored for accounts without a password: not a valid Argon2 hash, so verification always fails.
NO_PASSWORD = "!"


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown user (`None`) still pays for one verification."""

    def verify() -> bool:
        try:
            return _HASHER.verify(password_hash or DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
