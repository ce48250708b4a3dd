"""Choosing a profile: by USB vendor:product (before the port is opened), by the AT+CGMM reply (after).

Pure functions over loaded profiles; an unknown device falls back to the "generic" profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gatewayd.hardware.profile import InterfaceRole, ModemProfile, UsbMatch, normalize_interface

GENERIC_PROFILE = "generic"


@dataclass(frozen=True, slots=True)
class UsbIdentity:
    """The profile claiming a USB vendor:product, and that claim (which interface is what)."""

    profile: ModemProfile
    usb: UsbMatch

    def role_of(self, interface: str) -> InterfaceRole | None:
        return self.usb.role_of(interface)


def identify_usb(profiles: Mapping[str, ModemProfile], vendor_id: str, product_id: str) -> UsbIdentity | None:
    """The profile whose `usb` list names vendor:product; None for a device no profile claims.

    The loader guarantees that at most one profile claims each vendor:product.
    """
    for profile in profiles.values():
        match = profile.usb_match_for(vendor_id, product_id)
        if match is not None:
            return UsbIdentity(profile, match)
    return None


def profile_for_usb(profiles: Mapping[str, ModemProfile], vendor_id: str, product_id: str) -> ModemProfile:
    """The claiming profile, or the generic one when no profile claims vendor:product."""
    identity = identify_usb(profiles, vendor_id, product_id)
    return identity.profile if identity is not None else generic_profile(profiles)


def interface_role(profiles: Mapping[str, ModemProfile], vendor_id: str, product_id: str,
                   interface: str) -> InterfaceRole | None:
    """What interface `interface` of vendor:product is, per the claiming profile; None when nobody says."""
    identity = identify_usb(profiles, vendor_id, product_id)
    return identity.role_of(normalize_interface(interface)) if identity is not None else None


def profile_for_model(profiles: Mapping[str, ModemProfile], model_reply: str,
                      current: ModemProfile) -> ModemProfile:
    """Refine `current` with the modem's own model string (AT+CGMM or ATI), case-insensitive substring match.

    Several models share one USB id (Quectel EC25, EG25-G and EC20 R2.1 are all 2c7c:0125) and a USB-serial
    bridge names no model at all, so the reply decides. The longest matching `at_models` entry wins; with no
    match the current profile stays.
    """
    reply = model_reply.upper()
    best: tuple[int, ModemProfile] | None = None
    for profile in profiles.values():
        for model in profile.at_models:
            if model.upper() in reply and (best is None or len(model) > best[0]):
                best = (len(model), profile)
    if best is None:
        return current
    if current.at_models and any(model.upper() in reply for model in current.at_models):
        # The current profile also matches: keep it unless a strictly more specific model is known.
        current_length = max(len(model) for model in current.at_models if model.upper() in reply)
        if current_length >= best[0]:
            return current
    return best[1]


def generic_profile(profiles: Mapping[str, ModemProfile]) -> ModemProfile:
    if GENERIC_PROFILE not in profiles:
        raise LookupError(f"no {GENERIC_PROFILE!r} profile among {sorted(profiles)}: it is the fallback for "
                          f"unknown modems and must be shipped")
    return profiles[GENERIC_PROFILE]
