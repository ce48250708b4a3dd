"""`simrelay modems` shows what the engine recorded in modem_health: the SIM PIN state and the recovery
steps taken with the last reason."""

from __future__ import annotations

from gatewayd.cli.modems import rows
from tests.services.conftest import Stack


async def test_pin_state_and_recovery_steps_reach_the_modem_list(stack: Stack) -> None:
    gateway = stack.services.gateway
    modem_id = await gateway.modem_seen(imei="860000000000011", port="/dev/ttyUSB2", usb_path=None,
                                        manufacturer="SIMCOM", model="SIM800", revision=None)  # fmt: skip
    quiet_id = await gateway.modem_seen(imei="860000000000012", port="/dev/ttyUSB5", usb_path=None,
                                        manufacturer="SIMCOM", model="SIM800", revision=None)  # fmt: skip
    await gateway.pin_state(modem_id, "pin_rejected")
    for step in ("reinit", "reset", "reinit"):
        await gateway.recovery_step(modem_id, step, "AT: no answer within 2 s")
    views = {view.id: view for view in await gateway.list_modems()}
    assert views[modem_id].pin_state == "pin_rejected"
    assert views[modem_id].recovery == "reinit 2, reset 1 (last: reinit: AT: no answer within 2 s)"
    assert (views[quiet_id].pin_state, views[quiet_id].recovery) == (None, "")
    table = {row["imei"]: row for row in rows(list(views.values()), [])}
    assert table["860000000000011"]["pin_state"] == "pin_rejected"
    assert table["860000000000011"]["recovery"].startswith("reinit 2, reset 1")
