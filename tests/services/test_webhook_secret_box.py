"""SecretBox: the server key is checked at once (the cipher itself loads on first use); secrets round-trip
under their key only; keys it makes are Fernet keys."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from gatewayd.errors import ConfigError
from gatewayd.services.webhooks import SecretBox, check_fernet_key, new_fernet_key, server_key


@pytest.mark.parametrize("key", [b"", b"not base64 at all!", base64.urlsafe_b64encode(b"x" * 31),
                                 base64.urlsafe_b64encode(b"x" * 33)])  # fmt: skip
def test_a_malformed_key_is_refused_when_the_box_is_built(key: bytes) -> None:
    with pytest.raises(ValueError):
        Fernet(key)  # the library agrees that it is no key
    with pytest.raises(ValueError):
        SecretBox(key)


def test_a_key_of_ours_is_a_fernet_key_and_a_fernet_key_is_accepted() -> None:
    ours = new_fernet_key()
    Fernet(ours)
    check_fernet_key(ours)
    check_fernet_key(Fernet.generate_key())
    assert ours != new_fernet_key()


def test_a_sealed_secret_opens_under_its_key_only() -> None:
    key = new_fernet_key()
    token = SecretBox(key).seal("s3cret")
    assert SecretBox(key).open(token) == "s3cret"
    assert Fernet(key).decrypt(token) == b"s3cret"  # plain Fernet tokens, as stored before
    with pytest.raises(ConfigError):
        SecretBox(new_fernet_key()).open(token)


def test_a_configured_key_is_checked_and_a_generated_one_is_kept(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        server_key("too short", str(tmp_path))
    configured = Fernet.generate_key().decode("ascii")
    assert server_key(configured, str(tmp_path)) == configured.encode("ascii")
    generated = server_key("", str(tmp_path))
    check_fernet_key(generated)
    assert server_key("", str(tmp_path)) == generated
