"""Metrics: what a scrape shows for modems, ports, observer calls and the queue; promtool lints a scrape."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatewayd.clock import ManualClock
from gatewayd.metrics import GatewayMetrics, PortSample
from gatewayd.modem.registry import ModemEntry
from gatewayd.modem.supervisor import ModemStatus
from gatewayd.services.outbound_queue import OutboundQueueStats, QueueDepth
from gatewayd.store.engine import create_engine, session_factory, write_transaction
from gatewayd.store.migrate import upgrade
from gatewayd.store.models import Message


def promtool() -> str:
    """promtool from Debian's prometheus package; under CI its absence is a failure, not a skip."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing under CI=true; .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


READY = ModemStatus(
    port="/dev/ttyUSB2", state="ready", imei="860000000000011", iccid="8944000000000000011",
    hosted_sim_id=7, signal_percent=58, registration="registered_home", operator="Vodafone",
    storage_used=3, storage_total=30,
)
BUSY = ModemStatus(port="/dev/ttyUSB6", state="busy", detail="held by another process")


def entries() -> list[ModemEntry]:
    return [
        ModemEntry(READY, "quectel-ec25", "pci-0000:00:14.0-usb-0:1.2", "A02"),
        ModemEntry(BUSY, "simcom-sim7600", "pci-0000:00:14.0-usb-0:1.3", None),
    ]


def ports() -> list[PortSample]:
    return [PortSample("pci-0000:00:14.0-usb-0:1.4:1.0-if00", "eth1", "hilink", "A04", "huawei-e3372-hilink",
                       "no AT port")]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    for (sample_name, sample_labels), sample_value in samples(text).items():
        if sample_name == name and all(dict(sample_labels).get(k) == v for k, v in labels.items()):
            return sample_value
    raise AssertionError(f"no sample {name} {labels} in:\n{text}")


async def test_scrape_reads_supervisor_status_at_scrape_time() -> None:
    current = entries()
    metrics = GatewayMetrics(lambda: current, ports=ports, process=False)
    text = (await metrics.scrape()).decode()
    assert value(text, "simrelay_modem_up", port="/dev/ttyUSB2", slot="A02") == 1.0
    assert value(text, "simrelay_modem_up", port="/dev/ttyUSB6") == 0.0
    assert value(text, "simrelay_modem_state", port="/dev/ttyUSB6", state="busy") == 1.0
    assert value(text, "simrelay_modem_state", port="/dev/ttyUSB6", state="ready") == 0.0
    assert value(text, "simrelay_modem_signal_ratio", port="/dev/ttyUSB2") == pytest.approx(0.58)
    assert value(text, "simrelay_sim_registered", hosted_sim_id="7", registration="registered_home") == 1.0
    assert value(text, "simrelay_modem_storage_used_messages", slot="A02") == 3.0
    assert value(text, "simrelay_modem_storage_capacity_messages", slot="A02") == 30.0
    assert value(text, "simrelay_modem_info", imei="860000000000011", profile="quectel-ec25") == 1.0
    assert value(text, "simrelay_port_info", role="hilink", devname="eth1") == 1.0
    # The modem goes away between scrapes: its series go with it (no stale "up" for a removed port).
    current = current[1:]
    text = (await metrics.scrape()).decode()
    assert not any(labels and dict(labels).get("port") == "/dev/ttyUSB2" for _, labels in samples(text))


async def test_observer_calls_become_counters_and_histograms() -> None:
    metrics = GatewayMetrics(list, process=False)
    observer = metrics.observer
    observer.command_finished("/dev/ttyUSB2", "AT+CMGL", 0.4, "ok")
    observer.command_finished("/dev/ttyUSB2", "AT+CMGL", 12.0, "timeout")
    observer.unsolicited("/dev/ttyUSB2", "+CMTI")
    observer.noise("/dev/ttyUSB2", "garbage")
    observer.recovery("/dev/ttyUSB2", "reopen", "3 timeouts in a row")
    observer.sms_stored("/dev/ttyUSB2", 7, [0.2, 0.3, 7.0])
    observer.sms_sent("/dev/ttyUSB2", 7, "sent")
    text = (await metrics.scrape()).decode()
    assert value(text, "simrelay_at_command_duration_seconds_count", command="AT+CMGL") == 2
    assert value(text, "simrelay_at_command_duration_seconds_bucket", command="AT+CMGL", le="0.5") == 1
    assert value(text, "simrelay_at_commands_total", command="AT+CMGL", outcome="timeout") == 1
    assert value(text, "simrelay_at_command_timeouts_total", command="AT+CMGL") == 1
    assert value(text, "simrelay_unsolicited_results_total", urc="+CMTI") == 1
    assert value(text, "simrelay_modem_noise_total", kind="garbage") == 1
    assert value(text, "simrelay_modem_recoveries_total", step="reopen") == 1
    assert value(text, "simrelay_sms_received_total", hosted_sim_id="7") == 3
    assert value(text, "simrelay_sms_custody_seconds_bucket", le="1.0") == 2
    assert value(text, "simrelay_sms_sent_total", status="sent") == 1


async def test_two_instances_do_not_share_state() -> None:
    first, second = GatewayMetrics(list, process=False), GatewayMetrics(list, process=False)
    first.observer.recovery("p", "reset", "x")
    assert "simrelay_modem_recoveries_total{" not in (await second.scrape()).decode()


async def test_a_failing_queue_query_still_answers_the_scrape(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    async def queue() -> list[QueueDepth]:
        calls.append(1)
        if len(calls) > 1:
            raise ConnectionError("database is gone")
        return [QueueDepth(7, 2, 30.0)]

    metrics = GatewayMetrics(list, queue=queue, process=False)
    first = (await metrics.scrape()).decode()
    assert value(first, "simrelay_outbound_queue_messages", hosted_sim_id="7") == 2
    text = (await metrics.scrape()).decode()
    assert value(text, "simrelay_outbound_queue_oldest_age_seconds", hosted_sim_id="7") == 30.0
    assert "database is gone" in caplog.text


async def test_queue_depth_and_age_come_from_the_store(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    await upgrade(url)
    engine = create_engine(url)
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    try:
        sessions = session_factory(engine)
        async with write_transaction(sessions) as session:
            for minutes, status in ((10, "queued"), (4, "queued"), (30, "sent")):
                session.add(Message(direction="outbound", recipient="+4915100000000", text="hi",
                                    encoding="gsm7", status=status,
                                    created_at=clock.now() - timedelta(minutes=minutes)))
        depths = await OutboundQueueStats(sessions, clock).depths()
    finally:
        await engine.dispose()
    assert depths == [QueueDepth(None, 2, 600.0)]


def test_promtool_accepts_a_real_scrape() -> None:
    tool = promtool()
    metrics = GatewayMetrics(entries, ports=ports, queue=_one_queue_row)
    metrics.observer.command_finished("/dev/ttyUSB2", "AT+CSQ", 0.02, "ok")
    metrics.observer.sms_stored("/dev/ttyUSB2", 7, [0.3])
    metrics.observer.sms_sent("/dev/ttyUSB2", 7, "failed")
    metrics.observer.recovery("/dev/ttyUSB2", "reinit", "x")
    metrics.http.observe("GET", "/api/sims", 200, 0.01)
    scrape = asyncio.run(metrics.scrape())
    result = subprocess.run([tool, "check", "metrics"], input=scrape, capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert result.stdout.strip() == b"" and result.stderr.strip() == b"", (result.stdout + result.stderr)


async def _one_queue_row() -> list[QueueDepth]:
    return [QueueDepth(7, 1, 12.5)]
