"""Prometheus metrics on an own CollectorRegistry (no globals): modem state read at scrape time, counters
and histograms fed by the modem code through `ModemObserver`, the outbound queue, process and HTTP.

Must not do I/O from `collect()`: the queue snapshot is taken by `scrape()` before exposition, with a
deadline, so a slow database degrades the scrape to stale queue numbers instead of hanging it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gatewayd.metric_series import LabelledCounter, LabelledHistogram
from gatewayd.modem.registry import ModemEntry
from gatewayd.services import device_presence as presence
from gatewayd.services.outbound_queue import QueueDepth

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUEUE_QUERY_TIMEOUT_S = 2.0
# Every state a supervisor reports (modem/supervisor.ModemStatus.state), exported as an enum gauge so a
# rule can select `state="busy"` without knowing the others.
MODEM_STATES: tuple[str, ...] = (
    "starting", "opening", "initializing", "ready", "no_sim", "busy", "missing", "unplugged", "error",
    "stopped",
)
# Ports hotplug found but does not drive, by role (hotplug/discovery.PortRole).
PORT_ROLES: tuple[str, ...] = ("at", "hilink", "unknown", "ignore")
# AT commands answer in milliseconds, but AT+CMGL over a full SIM and AT+COPS=? take tens of seconds.
AT_DURATION_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)
# Custody: seen on the modem → committed → deleted; sub-second normally, minutes when the store stalls.
CUSTODY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class PortSample:
    """A port hotplug saw and decided about (driven or not), for `simrelay_port_info`."""

    port_key: str
    devname: str
    role: str
    slot: str
    profile: str
    reason: str


class ModemMetricsObserver:
    """The `ModemObserver` the supervisors and drivers call; cheap, never raises. Its series are per port,
    so they are `metric_series` families (a few numbers per series) rather than prometheus_client's."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.at_duration = LabelledHistogram(
            "simrelay_at_command_duration_seconds", "Time from writing an AT command to its final result.",
            ["port", "command"], buckets=AT_DURATION_BUCKETS_S, registry=registry,
        )
        self.at_commands = LabelledCounter(
            "simrelay_at_commands", "AT commands finished, by outcome (ok, error, timeout, lost).",
            ["port", "command", "outcome"], registry=registry,
        )
        self.at_timeouts = LabelledCounter(
            "simrelay_at_command_timeouts", "AT commands that got no final result in time.",
            ["port", "command"], registry=registry,
        )
        self.unsolicited_results = LabelledCounter(
            "simrelay_unsolicited_results", "Unsolicited result codes (URCs) received, by name.",
            ["port", "urc"], registry=registry,
        )
        self.noise_lines = LabelledCounter(
            "simrelay_modem_noise", "Unknown lines, garbage bytes and stale responses from a modem.",
            ["port", "kind"], registry=registry,
        )
        self.recoveries = LabelledCounter(
            "simrelay_modem_recoveries", "Recovery ladder steps taken (reinit, reset, reopen, usb_reset, "
            "quarantine).", ["port", "step"], registry=registry,
        )
        self.sms_received = LabelledCounter(
            "simrelay_sms_received", "SMS parts committed to the store and then deleted from the modem.",
            ["port", "hosted_sim_id"], registry=registry,
        )
        self.custody = LabelledHistogram(
            "simrelay_sms_custody_seconds", "From an SMS seen on the modem to its deletion after commit.",
            ["port"], buckets=CUSTODY_BUCKETS_S, registry=registry,
        )
        self.sms_sent_by_status = LabelledCounter(
            "simrelay_sms_sent", "Outbound SMS handed to a modem, by final status.",
            ["port", "hosted_sim_id", "status"], registry=registry,
        )

    def command_finished(self, port: str, command: str, seconds: float, outcome: str) -> None:
        self.at_duration.observe((port, command), seconds)
        self.at_commands.inc((port, command, outcome))
        if outcome == "timeout":
            self.at_timeouts.inc((port, command))

    def unsolicited(self, port: str, name: str) -> None:
        self.unsolicited_results.inc((port, name))

    def noise(self, port: str, kind: str) -> None:
        self.noise_lines.inc((port, kind))

    def recovery(self, port: str, step: str, reason: str) -> None:
        self.recoveries.inc((port, step))

    def sms_stored(self, port: str, hosted_sim_id: int, custody_seconds: Sequence[float]) -> None:
        self.sms_received.inc((port, str(hosted_sim_id)), len(custody_seconds))
        for seconds in custody_seconds:
            self.custody.observe((port,), seconds)

    def sms_sent(self, port: str, hosted_sim_id: int, status: str) -> None:
        self.sms_sent_by_status.inc((port, str(hosted_sim_id), status))


class HttpMetrics:
    """Request counters and latency by route template (never the raw path: ids would explode cardinality)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "simrelay_http_requests", "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"], registry=registry,
        )
        self.duration = Histogram(
            "simrelay_http_request_duration_seconds", "HTTP request handling time, by method and route.",
            ["method", "route"], buckets=HTTP_BUCKETS_S, registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


class GatewayStateCollector(Collector):
    """Reads the supervisors, hotplug's port decisions and the last queue snapshot at scrape time."""

    def __init__(
        self,
        modems: Callable[[], Iterable[ModemEntry]],
        ports: Callable[[], Iterable[PortSample]],
    ) -> None:
        self._modems = modems
        self._ports = ports
        self.queue: list[QueueDepth] = []

    def collect(self) -> Iterator[Metric]:
        yield from self._modem_families(list(self._modems()))
        yield from self._port_families(list(self._ports()))
        yield from self._queue_families(self.queue)

    def _modem_families(self, entries: list[ModemEntry]) -> Iterator[Metric]:
        labels = ["port", "slot", "usb_path"]
        up = GaugeMetricFamily("simrelay_modem_up", "1 when the modem is ready to receive SMS.",
                               labels=labels)
        state = GaugeMetricFamily("simrelay_modem_state", "1 for the modem's current state.",
                                  labels=[*labels, "state"])
        info = GaugeMetricFamily("simrelay_modem_info", "Identity of the modem and SIM on a port (always 1).",
                                 labels=[*labels, "profile", "imei", "iccid", "hosted_sim_id", "operator"])
        signal = GaugeMetricFamily("simrelay_modem_signal_ratio", "Signal quality from AT+CSQ, 0 to 1.",
                                   labels=labels)
        registered = GaugeMetricFamily(
            "simrelay_sim_registered", "1 when the SIM is registered (home or roaming), by AT+CREG status.",
            labels=[*labels, "hosted_sim_id", "registration"])
        used = GaugeMetricFamily("simrelay_modem_storage_used_messages", "SMS slots in use (AT+CPMS).",
                                 labels=labels)
        capacity = GaugeMetricFamily("simrelay_modem_storage_capacity_messages",
                                     "SMS slots of the receive memory (AT+CPMS).", labels=labels)
        for entry in entries:
            status = entry.status
            values = [status.port, entry.slot or "", entry.usb_path or ""]
            up.add_metric(values, 1.0 if status.state == "ready" else 0.0)
            for name in MODEM_STATES:
                state.add_metric([*values, name], 1.0 if status.state == name else 0.0)
            sim = "" if status.hosted_sim_id is None else str(status.hosted_sim_id)
            info.add_metric([*values, entry.profile, status.imei or "", status.iccid or "", sim,
                             status.operator or ""], 1.0)
            if status.signal_percent is not None:
                signal.add_metric(values, status.signal_percent / 100)
            if status.registration is not None and status.hosted_sim_id is not None:
                registered.add_metric([*values, sim, status.registration],
                                      1.0 if status.registration.startswith("registered") else 0.0)
            if status.storage_used is not None:
                used.add_metric(values, float(status.storage_used))
            if status.storage_total is not None:
                capacity.add_metric(values, float(status.storage_total))
        yield from (up, state, info, signal, registered, used, capacity)

    def _port_families(self, samples: list[PortSample]) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "simrelay_port_info",
            "Serial ports hotplug decided about, by role (at, hilink, unknown, ignore).",
            labels=["port_key", "devname", "role", "slot", "profile"])
        for sample in samples:
            info.add_metric([sample.port_key, sample.devname, sample.role, sample.slot, sample.profile], 1.0)
        yield info

    def _queue_families(self, depths: list[QueueDepth]) -> Iterator[Metric]:
        depth = GaugeMetricFamily("simrelay_outbound_queue_messages",
                                  "Outbound SMS waiting for their SIM's gateway.", labels=["hosted_sim_id"])
        age = GaugeMetricFamily("simrelay_outbound_queue_oldest_age_seconds",
                                "Age of the oldest outbound SMS still waiting.", labels=["hosted_sim_id"])
        for row in depths:
            sim = "" if row.hosted_sim_id is None else str(row.hosted_sim_id)
            depth.add_metric([sim], float(row.waiting))
            age.add_metric([sim], row.oldest_age_s)
        yield from (depth, age)


class ByosCollector(Collector):
    """BYOS phones and the Twilio webhook, read at scrape time from the live counts the services keep
    (`TwilioService.outcomes`, `DevicePresence.counts`), so the services never import Prometheus."""

    def __init__(self, twilio_outcomes: Mapping[str, int], presence_counts: Mapping[str, int]) -> None:
        self._twilio = twilio_outcomes
        self._presence = presence_counts

    def collect(self) -> Iterator[Metric]:
        twilio = CounterMetricFamily(
            "simrelay_twilio_webhooks", "Twilio verification webhook calls, by outcome (verified, "
            "unknown_code, expired_code, no_code, bad_sender, duplicate, bad_signature).", labels=["outcome"])
        for outcome, count in sorted(self._twilio.items()):
            twilio.add_metric([outcome], float(count))
        counts = self._presence
        transitions = CounterMetricFamily("simrelay_byos_device_transitions",
                                          "BYOS phones going online or offline.", labels=["to"])
        transitions.add_metric(["online"], float(counts.get(presence.CAME_ONLINE, 0)))
        transitions.add_metric(["offline"], float(counts.get(presence.WENT_OFFLINE, 0)))
        emails = CounterMetricFamily("simrelay_byos_offline_emails",
                                     "Device-offline emails to owners, by result.", labels=["result"])
        emails.add_metric(["sent"], float(counts.get(presence.EMAILS_SENT, 0)))
        emails.add_metric(["failed"], float(counts.get(presence.EMAILS_FAILED, 0)))
        yield twilio
        yield CounterMetricFamily("simrelay_byos_heartbeats", "BYOS phone heartbeats accepted.",
                                  value=float(counts.get(presence.HEARTBEATS, 0)))
        yield transitions
        yield emails
        yield CounterMetricFamily("simrelay_byos_offline_sweeps", "Offline sweeps finished.",
                                  value=float(counts.get(presence.SWEEPS, 0)))


class GatewayMetrics:
    """Everything `/metrics` exposes, on one registry owned by the runtime."""

    def __init__(
        self,
        modems: Callable[[], Iterable[ModemEntry]],
        *,
        ports: Callable[[], Iterable[PortSample]] = tuple,
        queue: Callable[[], Awaitable[list[QueueDepth]]] | None = None,
        process: bool = True,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.observer = ModemMetricsObserver(self.registry)
        self.http = HttpMetrics(self.registry)
        self._state = GatewayStateCollector(modems, ports)
        self._queue = queue
        self.registry.register(self._state)
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)

    def watch_byos(self, twilio_outcomes: Mapping[str, int], presence_counts: Mapping[str, int]) -> None:
        """Expose the BYOS and Twilio counts of this process's services (see `ByosCollector`)."""
        self.registry.register(ByosCollector(twilio_outcomes, presence_counts))

    async def scrape(self) -> bytes:
        """The exposition text, with a fresh queue snapshot when the store answers in time."""
        if self._queue is not None:
            try:
                async with asyncio.timeout(QUEUE_QUERY_TIMEOUT_S):
                    self._state.queue = await self._queue()
            except Exception:  # task boundary: a scrape must answer even when the store does not
                log.exception("metrics: outbound queue snapshot failed; exposing the previous one")
        return generate_latest(self.registry)
