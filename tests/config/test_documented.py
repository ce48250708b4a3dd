"""docs/configuration.md names every key of every section, so the reference cannot fall behind the code."""

import dataclasses
import re
from pathlib import Path

from gatewayd.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented() -> set[str]:
    keys: set[str] = set()
    section = ""
    for line in DOC.read_text().splitlines():
        if match := re.match(r"## \[(\w+)\]", line):
            section = match.group(1)
        elif match := re.match(r"\| `(\w+)` \|", line):
            keys.add(f"{section}.{match.group(1)}")
    return keys


def test_every_setting_is_documented() -> None:
    settings = Settings()
    expected = {
        f"{section.name}.{key.name}"
        for section in dataclasses.fields(Settings)
        if section.name != "source"
        for key in dataclasses.fields(getattr(settings, section.name))
    }
    assert expected - documented() == set()
    assert documented() - expected == set(), "documented keys that no longer exist"
