"""The shipped alert rules pass `promtool check rules`, and the rules and the Grafana dashboard name only
metrics a real scrape exports (a renamed metric would silently blank a panel or never fire)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

from gatewayd.metrics import GatewayMetrics
from gatewayd.services.outbound_queue import QueueDepth
from tests.metrics.test_metrics import entries, ports, promtool

MONITORING = Path(__file__).resolve().parents[2] / "docs" / "monitoring"
RULES = MONITORING / "simrelay-alerts.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\b((?:simrelay|process|python)_[a-z0-9_]+)\b")
# Series Prometheus itself makes for every target.
PROMETHEUS_OWN = {"up"}


def exported_names() -> set[str]:
    async def queue() -> list[QueueDepth]:
        return [QueueDepth(1, 1, 1.0)]

    metrics = GatewayMetrics(entries, ports=ports, queue=queue)
    observer = metrics.observer
    observer.command_finished("p", "AT", 0.1, "timeout")
    observer.unsolicited("p", "+CMTI")
    observer.noise("p", "garbage")
    observer.recovery("p", "reset", "x")
    observer.sms_stored("p", 1, [0.1])
    observer.sms_sent("p", 1, "sent")
    metrics.http.observe("GET", "/metrics", 200, 0.01)
    text = asyncio.run(metrics.scrape()).decode()
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {line.split("{")[0].split(" ")[0] for line in samples}


def dashboard_expressions() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]
    expressions += [variable["query"] for variable in document["templating"]["list"]
                    if variable.get("type") == "query"]
    return expressions


def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert b"SUCCESS" in result.stdout


def test_alert_rules_cover_what_the_issue_asks_for() -> None:
    text = RULES.read_text()
    for alert in ("SimRelayModemDown", "SimRelaySimUnregistered", "SimRelaySmsStorageAbove80Percent",
                  "SimRelayRecoveryStorm", "SimRelayOutboundQueueStuck"):
        assert f"alert: {alert}" in text


def test_alert_rules_name_only_exported_metrics() -> None:
    exported = exported_names()
    named = set(METRIC_NAME.findall(RULES.read_text()))
    assert named, "no metric found in the rules"
    assert named <= exported, sorted(named - exported)


def test_dashboard_loads_and_names_only_exported_metrics() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["uid"] and document["panels"]
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    exported = exported_names()
    named = {name for expression in dashboard_expressions() for name in METRIC_NAME.findall(expression)}
    assert named <= exported | PROMETHEUS_OWN, sorted(named - exported)
    # Every family a rack operator cares about has a panel.
    for family in ("simrelay_modem_up", "simrelay_modem_signal_ratio", "simrelay_sms_custody_seconds_bucket",
                   "simrelay_outbound_queue_oldest_age_seconds", "simrelay_modem_recoveries_total"):
        assert family in named
