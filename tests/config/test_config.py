"""Settings come from TOML, then SIMRELAY_* variables, then flags; every bad value names file and key."""

from pathlib import Path

import pytest

from gatewayd.config import load_settings, public_base_url
from gatewayd.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "simrelay.toml"
    path.write_text(text)
    return str(path)


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.db.url == "sqlite+aiosqlite:///var/simrelay.db"
    assert settings.api.listen == "127.0.0.1:8080"
    assert settings.gateway.modems == ()


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[api]\nlisten = "0.0.0.0:9000"\n[gateway]\nmodems = ["/dev/ttyUSB2"]\npoll_interval_s = 10\n',
    )
    settings = load_settings(
        path,
        environ={"SIMRELAY_GATEWAY_POLL_INTERVAL_S": "5", "SIMRELAY_DB_URL": "sqlite+aiosqlite:///x.db"},
        overrides={"api": {"listen": "127.0.0.1:9100"}},
    )
    assert settings.gateway.modems == ("/dev/ttyUSB2",)
    assert settings.gateway.poll_interval_s == 5.0
    assert settings.db.url == "sqlite+aiosqlite:///x.db"
    assert settings.api.listen == "127.0.0.1:9100"
    assert settings.source == path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[api]\nlisten = "nowhere"\n', "api.listen"),
        ("[api]\nmax_body_bytes = -1\n", "api.max_body_bytes"),
        ('[gateway]\nbaudrate = "fast"\n', "gateway.baudrate"),
        ("[gateway]\nmodems = [1, 2]\n", "gateway.modems"),
        ("[gateway]\nmodem = []\n", "gateway.modem"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ('[db]\nurl = "mysql://x"\n', "db.url"),
        ('[log]\nlevel = "loud"\n', "log.level"),
        ("[api\n", "(file)"),
    ],
)
def test_invalid_value_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.source == path
    assert caught.value.key == key
    assert path in str(caught.value) and key in str(caught.value)


def test_invalid_environment_value_names_the_environment() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"SIMRELAY_GATEWAY_DISCOVER": "perhaps"}, config_path=None)
    assert caught.value.source == "environment"
    assert caught.value.key == "gateway.discover"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(str(tmp_path / "absent.toml"), environ={})


def test_public_url_derived_from_listen() -> None:
    settings = load_settings(environ={}, overrides={"api": {"listen": "0.0.0.0:8080"}})
    assert public_base_url(settings) == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("text", "key", "secret"),
    [
        ('[engine]\nsim_pins = ["8949=12345678901234567"]\n', "engine.sim_pins", "12345678901234567"),
        ("[smtp]\npassword = 12345\n", "smtp.password", "12345"),
    ],
)
def test_a_bad_secret_is_not_echoed(tmp_path: Path, text: str, key: str, secret: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.key == key
    assert secret not in str(caught.value)
