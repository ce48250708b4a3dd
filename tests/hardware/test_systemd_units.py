"""systemd/*.service: `systemd-analyze verify` is clean where it exists; hardening keys are always checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = {"simrelay.service": "serve", "simrelay-gateway.service": "gateway", "simrelay-api.service": "api"}
MODEM_UNITS = ("simrelay.service", "simrelay-gateway.service")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections → key → every value in order (systemd keys such as DeviceAllow= may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: not KEY=VALUE in a section: {raw}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_three_units_are_shipped() -> None:
    assert sorted(path.name for path in UNITS_DIR.glob("*.service")) == sorted(UNITS)


@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_runs_the_right_command_as_a_notify_service(name: str) -> None:
    service = parse_unit(UNITS_DIR / name)["Service"]
    expected = {
        "Type": ["notify"], "NotifyAccess": ["main"], "WatchdogSec": ["30"], "Restart": ["on-failure"],
        "TimeoutStopSec": ["15"], "User": ["simrelay"], "SupplementaryGroups": ["dialout"],
        "StateDirectory": ["simrelay"], "ConfigurationDirectory": ["simrelay"],
    }
    assert {key: service.get(key) for key in expected} == expected
    assert service["ExecStart"][0].split()[1:] == [UNITS[name]]
    assert "SIMRELAY_DB_URL=sqlite+aiosqlite:////var/lib/simrelay/simrelay.db" in service["Environment"]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_is_hardened(name: str) -> None:
    service = parse_unit(UNITS_DIR / name)["Service"]
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "DevicePolicy": "closed", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes", "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes", "SystemCallArchitectures": "native", "CapabilityBoundingSet": "",
    }.items():
        assert service.get(key) == [value], (name, key)
    assert "@system-service" in service["SystemCallFilter"]
    families = set(service["RestrictAddressFamilies"][0].split())
    if name in MODEM_UNITS:
        assert families == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
        assert {"char-ttyUSB rw", "char-ttyACM rw"} <= set(service["DeviceAllow"])
    else:
        assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}
        assert "DeviceAllow" not in service and service["PrivateDevices"] == ["yes"]


def test_all_in_one_and_split_units_exclude_each_other() -> None:
    conflicts = parse_unit(UNITS_DIR / "simrelay.service")["Unit"]["Conflicts"][0].split()
    assert sorted(conflicts) == ["simrelay-api.service", "simrelay-gateway.service"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here; the units are only parsed and checked")
@pytest.mark.parametrize("name", sorted(UNITS))
def test_systemd_analyze_verify_is_clean(name: str, tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this interpreter, which does.
    text = (UNITS_DIR / name).read_text()
    installed_path = parse_unit(UNITS_DIR / name)["Service"]["ExecStart"][0].split()[0]
    (tmp_path / name).write_text(text.replace(installed_path, sys.executable))
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True, text=True,
                          timeout=60, check=False)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and output == "", output
