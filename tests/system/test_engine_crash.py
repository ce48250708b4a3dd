"""Nothing lost, nothing doubled: 400 SMS (single, multipart, UCS-2, emoji) into an 8-modem bank while the
daemon is SIGKILLed at 5 random (seeded) moments and restarted; every message is stored exactly once with
its exact text, and the emulated storage ends empty. The bank runs in its own process so it survives."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import free_port, poll_until, simrelay

pytestmark = pytest.mark.system

MODEMS = 8
MESSAGES = 400
KILLS = 5
SEED = 3


def message_text(number: int) -> str:
    kind = number % 4
    if kind == 0:
        return f"#{number} plain GSM-7 text"
    if kind == 1:
        return f"#{number} long GSM-7 with [escapes] {{}} € " + "lorem ipsum " * 20  # 2 parts
    if kind == 2:
        return f"#{number} Грüße UCS-2 текст " * 6  # 2 parts, UCS-2
    return f"#{number} emoji 👋🏽 and more 😀 " * 5  # surrogate pairs, 2 parts


def stored_texts(db_file: Path) -> list[str]:
    if not db_file.exists():
        return []
    with sqlite3.connect(db_file) as connection:
        try:
            rows = connection.execute("SELECT text FROM messages WHERE direction = 'inbound'").fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []
    return [row[0] for row in rows]


async def test_sigkill_at_five_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db_file = tmp_path / "simrelay.db"
    control_port = free_port()
    bank_args = ["fakebank", "--count", str(MODEMS), "--dir", str(tmp_path / "bank"), "--control",
                 f"127.0.0.1:{control_port}"]  # fmt: skip
    async with simrelay(bank_args, cwd=tmp_path) as bank, aiohttp.ClientSession() as http:
        control = bank.banner["control_url"]
        ttys = [modem["path"] for modem in bank.banner["modems"]]
        serve_args = [
            "serve",
            "--db",
            f"sqlite+aiosqlite:///{db_file}",
            "--listen",
            f"127.0.0.1:{free_port()}",
        ]
        for tty in ttys:
            serve_args += ["--modem", tty]
        expected: list[str] = []

        async def inject(number: int) -> None:
            text = message_text(number)
            expected.append(text)
            body = {"from": f"+4915{number:09d}", "text": text}
            async with http.post(f"{control}/modems/{number % MODEMS}/sms", json=body) as response:
                assert response.status == 201, await response.text()

        per_round = MESSAGES // KILLS
        for round_number in range(KILLS):
            async with simrelay(serve_args, cwd=tmp_path) as daemon:
                numbers = range(round_number * per_round, (round_number + 1) * per_round)
                await asyncio.gather(*(inject(n) for n in numbers))
                # Kill mid-burst: somewhere between "just injected" and "probably half stored".
                await asyncio.sleep(rng.uniform(0.0, 0.6))  # the random moment itself, not a wait
                daemon.proc.send_signal(signal.SIGKILL)
                await daemon.proc.wait()

        async with simrelay(serve_args, cwd=tmp_path):

            async def all_stored() -> bool:
                return len(stored_texts(db_file)) >= MESSAGES

            await poll_until(all_stored, timeout_s=60, interval_s=0.2)

            async def storage_empty() -> bool:
                for index in range(MODEMS):
                    async with http.get(f"{control}/modems/{index}") as response:
                        modem = await response.json()
                    if modem["storage_used"] or modem["held_by_network"]:
                        return False
                return True

            await poll_until(storage_empty, timeout_s=30, interval_s=0.2)
        texts = stored_texts(db_file)
        assert Counter(texts) == Counter(expected)  # exactly once each, exact text
