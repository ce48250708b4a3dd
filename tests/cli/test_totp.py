"""`simrelay admin user totp enable --email E` as a real subprocess: otpauth URI, QR code, JSON form."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pyotp

from tests.cli.test_admin import db, ok_json, simrelay

__all__ = ["db"]  # the fixture, imported so pytest finds it here


def test_totp_enable_prints_uri_and_qr_and_the_secret_works(db: list[str]) -> None:
    ok_json("admin", "org", "create", "acme", *db)
    ok_json("admin", "user", "create", "--org", "acme", "--email", "ada@acme.example", "--name", "Ada",
            "--password", "long enough secret", *db)
    text = simrelay("admin", "user", "totp", "enable", "--email", "ADA@acme.example", *db)
    assert text.returncode == 0, text.stderr
    uri = text.stdout.strip().splitlines()[-1]
    assert uri.startswith("otpauth://totp/SimRelay:ada%40acme.example?")
    assert "█" in text.stdout or "▀" in text.stdout  # the QR code, drawn with block characters
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    assert pyotp.parse_uri(uri).now() == pyotp.TOTP(secret).now()
    again = ok_json("admin", "user", "totp", "enable", "--email", "ada@acme.example", *db)
    assert again["secret"] != secret and again["otpauth_uri"].startswith("otpauth://totp/")


def test_totp_enable_for_an_unknown_user_exits_2(db: list[str]) -> None:
    done = simrelay("admin", "user", "totp", "enable", "--email", "nobody@acme.example", *db)
    assert done.returncode == 2 and "nobody@acme.example" in done.stderr
