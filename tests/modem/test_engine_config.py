"""[engine] settings reach the modem supervisors: PINs by port and ICCID, send policy, reassembly timeout."""

from __future__ import annotations

import pytest

from gatewayd.config import load_settings
from gatewayd.errors import ConfigError
from gatewayd.modem.outbox import SendPolicy
from gatewayd.runtime import supervisor_settings


def test_engine_section_becomes_supervisor_settings() -> None:
    settings = load_settings(None, environ={}, overrides={"engine": {
        "sim_pin": "1111", "sim_pins": ["8944000000000000001=2222", "/dev/ttyUSB2=3333"],
        "reassembly_timeout_s": 120, "send_min_interval_s": 2, "send_jitter_s": 0.5,
        "send_hourly_quota": 30, "send_daily_quota": 0,
    }})  # fmt: skip
    supervisor = supervisor_settings(settings, {})
    assert supervisor.sim_pin == "1111"
    assert supervisor.sim_pins == {"8944000000000000001": "2222", "/dev/ttyUSB2": "3333"}
    assert supervisor.reassembly_timeout_s == 120
    expected = SendPolicy(min_interval_s=2, jitter_s=0.5, hourly_quota=30, daily_quota=None)
    assert supervisor.send_policy == expected


def test_defaults_mean_no_pin_and_no_quota() -> None:
    supervisor = supervisor_settings(load_settings(None, environ={}), {})
    assert supervisor.sim_pin is None and supervisor.sim_pins == {}
    assert supervisor.send_policy == SendPolicy()


@pytest.mark.parametrize("entry", ["8944=12", "no-separator", "=1234", "8944=12ab"])
def test_a_malformed_pin_entry_is_refused_naming_the_key(entry: str) -> None:
    with pytest.raises(ConfigError, match="engine.sim_pins"):
        load_settings(None, environ={}, overrides={"engine": {"sim_pins": [entry]}})


def test_environment_sets_the_default_pin() -> None:
    settings = load_settings(None, environ={"SIMRELAY_ENGINE_SIM_PIN": "4321"})
    assert supervisor_settings(settings, {}).sim_pin == "4321"
