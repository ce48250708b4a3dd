"""The BYOS and Twilio counts reach the Prometheus exposition: heartbeats, online/offline transitions,
offline emails by result, sweeps and Twilio outcomes, read from the live services at scrape time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatewayd.metrics import GatewayMetrics
from tests.services.byos_world import Byos, open_byos
from tests.services.conftest import Stack

TIMEOUT_S = 360


@pytest.fixture
async def byos(stack: Stack) -> AsyncIterator[Byos]:
    async with open_byos(stack) as world:
        yield world


def samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


async def test_byos_counts_are_exposed(byos: Byos) -> None:
    metrics = GatewayMetrics(list, process=False)
    metrics.watch_byos(byos.services.twilio.outcomes, byos.services.presence.counts)
    principal = await byos.oauth_principal()
    device = await byos.register(principal)
    code = device.pending[0].verification_code
    form = {"From": "+14155550123", "Body": code, "MessageSid": "SM42"}
    await byos.services.twilio.receive(form)
    await byos.services.twilio.receive(form)
    byos.services.twilio.signature_valid("https://gw.example/x", form, "forged")
    await byos.heartbeat(principal, device.id)
    await byos.heartbeat(principal, device.id)
    byos.mailbox.refuse = 1
    byos.clock.advance(2 * TIMEOUT_S)
    await byos.services.presence.sweep_offline()
    await byos.services.presence.sweep_offline()

    seen = samples(await metrics.scrape())
    assert seen[("simrelay_twilio_webhooks_total", (("outcome", "verified"),))] == 1
    assert seen[("simrelay_twilio_webhooks_total", (("outcome", "duplicate"),))] == 1
    assert seen[("simrelay_twilio_webhooks_total", (("outcome", "bad_signature"),))] == 1
    assert seen[("simrelay_byos_heartbeats_total", ())] == 2
    assert seen[("simrelay_byos_device_transitions_total", (("to", "online"),))] == 1
    assert seen[("simrelay_byos_device_transitions_total", (("to", "offline"),))] == 1
    assert seen[("simrelay_byos_offline_emails_total", (("result", "failed"),))] == 1
    assert seen[("simrelay_byos_offline_emails_total", (("result", "sent"),))] == 1
    assert seen[("simrelay_byos_offline_sweeps_total", ())] == 2
