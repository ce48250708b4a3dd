"""The [realtime] section: defaults, checks, and credentials generated once into the state directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gatewayd.config import RealtimeSection, load_settings, realtime_credentials
from gatewayd.errors import ConfigError


def test_defaults_follow_reverb() -> None:
    section = load_settings(environ={}, overrides={"realtime": {"state_dir": "unused"}}).realtime
    assert section.max_message_bytes == 10_000
    assert section.activity_timeout_s == 30
    assert section.client_events is False
    assert section.allowed_origins == ("*",)


def test_environment_overrides(tmp_path: Path) -> None:
    settings = load_settings(environ={"SIMRELAY_REALTIME_CLIENT_EVENTS": "true",
                                      "SIMRELAY_REALTIME_ALLOWED_ORIGINS": "a.example, *.b.example",
                                      "SIMRELAY_REALTIME_APP_KEY": "k"})
    assert settings.realtime.client_events is True
    assert settings.realtime.allowed_origins == ("a.example", "*.b.example")
    assert settings.realtime.app_key == "k"


@pytest.mark.parametrize(("text", "key"), [
    ('[realtime]\nscheme = "ftp"\n', "realtime.scheme"),
    ("[realtime]\npublic_port = 70000\n", "realtime.public_port"),
    ("[realtime]\nmax_connections = 0\n", "realtime.max_connections"),
    ("[realtime]\nactivity_timeout_s = 0\n", "realtime.activity_timeout_s"),
    ('[realtime]\nclient_events = "yes"\n', "realtime.client_events"),
])
def test_invalid_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "simrelay.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(str(path), environ={})
    assert caught.value.key == key


def test_credentials_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    section = RealtimeSection(state_dir=str(tmp_path / "state"))
    first = realtime_credentials(section)
    assert all(first) and len(set(first)) == 3
    assert realtime_credentials(section) == first  # a restart keeps the key clients were given
    stored = tmp_path / "state" / "realtime.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_configured_credentials_win_and_write_nothing(tmp_path: Path) -> None:
    section = RealtimeSection(app_id="1", app_key="key", app_secret="secret", state_dir=str(tmp_path))
    assert realtime_credentials(section) == ("1", "key", "secret")
    assert not (tmp_path / "realtime.json").exists()


def test_unreadable_credentials_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "realtime.json").write_text("{broken")
    with pytest.raises(ConfigError) as caught:
        realtime_credentials(RealtimeSection(state_dir=str(tmp_path)))
    assert caught.value.source.endswith("realtime.json")
