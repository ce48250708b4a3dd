"""The recovery ladder climbs one rung per failed session, skips USB reset where impossible, and resets."""

from __future__ import annotations

from gatewayd.modem.recovery import RecoveryLadder, usb_authorized_file


def test_the_ladder_climbs_to_quarantine_and_stays_there() -> None:
    ladder = RecoveryLadder(usb_reset_possible=True)
    assert [ladder.climb() for _ in range(7)] == [
        "reinit", "reset", "reopen", "usb_reset", "quarantine", "quarantine", "quarantine",
    ]  # fmt: skip
    ladder.healthy()
    assert ladder.climb() == "reinit"


def test_usb_reset_is_skipped_for_a_port_that_is_not_usb(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ladder = RecoveryLadder(usb_reset_possible=False)
    assert [ladder.climb() for _ in range(4)] == ["reinit", "reset", "reopen", "quarantine"]
    assert usb_authorized_file(str(tmp_path / "ttyGSM0")) is None
