"""The dummy hash an unknown user is verified against costs what a real one costs, and never matches."""

from __future__ import annotations

from argon2 import PasswordHasher

from gatewayd.services.passwords import DUMMY_HASH, hash_password, verify_password


def test_the_dummy_hash_has_the_hashers_parameters() -> None:
    # Same memory, time and parallelism as a stored hash: a miss takes as long as a wrong password.
    # Fails when argon2-cffi changes its defaults; then paste PasswordHasher().hash(...) anew.
    assert not PasswordHasher().check_needs_rehash(DUMMY_HASH)


async def test_an_unknown_user_is_refused_even_with_the_dummy_password() -> None:
    assert await verify_password(None, "simrelay: no such user") is False
    assert await verify_password(None, "anything at all") is False


async def test_a_stored_hash_verifies_its_password_only() -> None:
    stored = await hash_password("correct horse")
    assert await verify_password(stored, "correct horse") is True
    assert await verify_password(stored, "wrong horse") is False
