"""sd_notify against a real AF_UNIX datagram socket, as systemd's manager listens for it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatewayd.systemd import SystemdNotifier

Manager = tuple[socket.socket, str]


@pytest.fixture
def manager_socket(tmp_path: Path) -> Iterator[Manager]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


async def receive(sock: socket.socket, timeout_s: float = 5.0) -> dict[str, str]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        data = await loop.sock_recv(sock, 4096)
    return dict(line.split("=", 1) for line in data.decode().split("\n"))


async def test_ready_status_and_stopping_arrive_as_datagrams(manager_socket: Manager) -> None:
    sock, path = manager_socket
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("2 modems, API on 127.0.0.1:8080")
    assert await receive(sock) == {"READY": "1", "STATUS": "2 modems, API on 127.0.0.1:8080"}
    assert notifier.status("1 modem unplugged")
    assert await receive(sock) == {"STATUS": "1 modem unplugged"}
    assert notifier.stopping()
    assert await receive(sock) == {"STOPPING": "1", "STATUS": "stopping"}
    notifier.close()


async def test_abstract_namespace_socket() -> None:
    name = f"simrelay-test-{os.getpid()}-{id(object())}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert await receive(sock) == {"READY": "1"}
        notifier.close()
    finally:
        sock.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert notifier.watchdog_interval_s is None


def test_a_vanished_manager_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    assert notifier.ready() is False
    notifier.close()


def test_newline_in_a_value_is_refused_with_the_value(manager_socket: Manager) -> None:
    notifier = SystemdNotifier(manager_socket[1])
    with pytest.raises(ValueError, match="two\\\\nlines"):
        notifier.status("two\nlines")


def test_watchdog_interval_is_half_of_watchdog_usec_and_respects_watchdog_pid() -> None:
    mine = SystemdNotifier.from_environment(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert mine.watchdog_interval_s == 15.0
    inherited = SystemdNotifier.from_environment(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    )
    assert inherited.watchdog_interval_s is None


async def test_watchdog_cadence_and_silence_while_unhealthy(manager_socket: Manager) -> None:
    sock, path = manager_socket
    # WatchdogSec=0.2 s → a ping every 0.1 s
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    assert notifier.watchdog_interval_s == pytest.approx(0.1)
    health = {"ok": True}
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(notifier.feed_watchdog(lambda: health["ok"]))
    try:
        stamps = []
        for _ in range(4):
            assert await receive(sock) == {"WATCHDOG": "1"}
            stamps.append(loop.time())
        gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
        # Fed at the interval: never faster, and well inside WatchdogSec even on a loaded CI host.
        assert all(0.08 <= gap < 0.2 for gap in gaps), gaps
        health["ok"] = False
        # Drain a ping that may have been sent just before the switch, then expect silence for 3 intervals.
        with pytest.raises(TimeoutError):
            await receive(sock, timeout_s=0.15)
            await receive(sock, timeout_s=0.3)
        health["ok"] = True
        assert await receive(sock) == {"WATCHDOG": "1"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        notifier.close()


async def test_no_watchdog_configured_returns_at_once(manager_socket: Manager) -> None:
    notifier = SystemdNotifier(manager_socket[1])
    async with asyncio.timeout(1):
        await notifier.feed_watchdog(lambda: True)
