"""A bad modem never stalls the others: with modem 0 mute (a hung firmware) and modem 1 unplugged and
replugged mid-burst, every SMS sent to modems 1..7 is stored exactly once and their storage empties."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import free_port, poll_until, simrelay

pytestmark = pytest.mark.system

MODEMS = 8
PER_MODEM = 12


def count(db_file: Path, query: str) -> int:
    if not db_file.exists():
        return 0
    with sqlite3.connect(db_file) as connection:
        try:
            return int(connection.execute(query).fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def inbound_texts(db_file: Path) -> list[str]:
    with sqlite3.connect(db_file) as connection:
        return [row[0] for row in connection.execute("SELECT text FROM messages WHERE direction = 'inbound'")]


async def test_a_mute_modem_and_an_unplugged_one_do_not_hold_up_the_rest(tmp_path: Path) -> None:
    db_file = tmp_path / "simrelay.db"
    bank_args = ["fakebank", "--count", str(MODEMS), "--dir", str(tmp_path / "bank"), "--control",
                 f"127.0.0.1:{free_port()}"]  # fmt: skip
    async with simrelay(bank_args, cwd=tmp_path) as bank, aiohttp.ClientSession() as http:
        control = bank.banner["control_url"]
        serve_args = [
            "serve",
            "--db",
            f"sqlite+aiosqlite:///{db_file}",
            "--listen",
            f"127.0.0.1:{free_port()}",
        ]
        for modem in bank.banner["modems"]:
            serve_args += ["--modem", modem["path"]]
        async with simrelay(serve_args, cwd=tmp_path):

            async def all_sims_seen() -> bool:
                return count(db_file, "SELECT count(*) FROM hosted_sims") == MODEMS

            await poll_until(all_sims_seen, timeout_s=30)
            async with http.put(f"{control}/modems/0/faults", json={"mute": True}) as response:
                assert response.status == 200
            expected: list[str] = []

            async def inject(index: int, number: int) -> None:
                text = f"modem {index} message {number} – ünïcödé 😀" if number % 2 else f"m{index} n{number}"
                if index:
                    expected.append(text)
                body = {"from": "+447700900123", "text": text}
                async with http.post(f"{control}/modems/{index}/sms", json=body) as response:
                    assert response.status == 201

            for number in range(PER_MODEM):
                if number == PER_MODEM // 2:
                    async with http.post(f"{control}/modems/1/unplug") as response:
                        assert response.status == 200
                await asyncio.gather(*(inject(index, number) for index in range(MODEMS)))
            async with http.post(f"{control}/modems/1/replug") as response:
                assert response.status == 200

            async def others_stored() -> bool:
                return len(inbound_texts(db_file)) >= len(expected)

            await poll_until(others_stored, timeout_s=30, interval_s=0.1)
            assert Counter(inbound_texts(db_file)) == Counter(expected)

            async def others_emptied() -> bool:  # the delete follows the commit: a moment after the rows
                used = []
                for index in range(1, MODEMS):
                    async with http.get(f"{control}/modems/{index}") as response:
                        used.append((await response.json())["storage_used"])
                return not any(used)

            await poll_until(others_emptied, timeout_s=30, interval_s=0.1)
            async with http.get(f"{control}/modems/0") as response:
                assert (await response.json())["storage_used"] == PER_MODEM  # the mute one kept its SMS
