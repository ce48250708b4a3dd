"""`/api/byos/devices/...`: the BYOS phone endpoints (OAuth scope `byos`); validation and serialisation.

The permission table already demanded an OAuth token with the byos scope; the services (devices, sim_cards,
device_presence) scope every device to the caller's organisation and the device's own token family.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES, SETTINGS
from api.pagination import paginated_body, public_url
from api.requests import (
    FieldErrors,
    boolean_field,
    enum_field,
    integer_field,
    page_request,
    read_json_object,
    string_field,
)
from api.schemas import iso_utc, organization_json
from gatewayd.services.device_presence import SimSignal
from gatewayd.services.device_views import DEVICE_STATUSES, DeviceView, PendingSimCardView, SimCardView

ID = "[0-9]{1,18}"
_ANDROID_ID = re.compile(r"[0-9a-fA-F]{16}")
_E164 = re.compile(r"\+[1-9]\d{1,14}")


def sim_card_json(card: SimCardView) -> dict[str, Any]:
    return {
        "id": card.id,
        "phone_number": card.phone_number,
        "sim_slot": card.sim_slot,
        "status": card.status,
        "signal_strength": card.signal_strength,
        "is_active": card.status == "active",
        "hosted_sim_id": card.hosted_sim_id,
        "created_at": iso_utc(card.created_at),
        "updated_at": iso_utc(card.updated_at),
    }


def pending_json(card: PendingSimCardView) -> dict[str, Any]:
    return {
        "id": card.id,
        "sim_slot": card.sim_slot,
        "phone_number": card.phone_number,
        "status": card.status,
        "verification_code": card.verification_code,
        "twilio_number": card.twilio_number,
    }


def device_json(device: DeviceView) -> dict[str, Any]:
    cards = [sim_card_json(card) for card in device.sim_cards]
    codes = {pending.id: pending for pending in device.pending}
    for card in cards:  # right after registration each pending card carries its code
        if card["id"] in codes:
            card["verification_code"] = codes[card["id"]].verification_code
    return {
        "id": device.id,
        "android_id": device.android_id,
        "phone_number": device.phone_number,
        "device_name": device.device_name,
        "status": device.status,
        "is_online": device.is_online,
        "created_at": iso_utc(device.created_at),
        "twilio_number": device.twilio_number,
        "sim_cards": cards,
        "device_model": device.device_model,
        "app_version": device.app_version,
        "config_version": device.config_version,
        "battery_level": device.battery_level,
        "last_seen_at": iso_utc(device.last_seen_at),
        "messages_received_count": device.messages_received_count,
        "organization": organization_json(device.organization),
        "updated_at": iso_utc(device.updated_at),
    }


def _device_id(request: web.Request) -> int:
    return int(request.match_info["device"])


def _card_id(request: web.Request) -> int:
    return int(request.match_info["simCard"])


def _phone(errors: FieldErrors, body: dict[str, Any], field: str = "phone_number") -> str | None:
    value = string_field(errors, body, field, required=False, max_length=16)
    if value is not None and not _E164.fullmatch(value):
        errors.add(field, f"The {field.replace('_', ' ')} field must be an E.164 number like +14155551234.")
        return None
    return value


async def list_devices(request: web.Request) -> web.Response:
    errors = FieldErrors()
    status = enum_field(errors, request.query, "status", allowed=DEVICE_STATUSES, required=False)
    errors.raise_if_any()
    paging = page_request(request.query, default_per_page=15, max_per_page=100, size_fields=("per_page",))
    page = await request.app[SERVICES].devices.list(
        request[PRINCIPAL], status=status, page=paging.page, per_page=paging.per_page
    )
    url = public_url(request, request.app[SETTINGS].public_base_url)
    return web.json_response(
        paginated_body(
            page.items, device_json, total=page.total, page=page.page, per_page=page.per_page, url=url
        )
    )


def _slots(errors: FieldErrors, body: dict[str, Any]) -> list[int]:
    raw = body.get("sim_slots")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 2:  # noqa: PLR2004
        errors.add("sim_slots", "The sim slots field must be an array of 1 to 2 slot numbers.")
        return []
    slots = []
    for index, item in enumerate(raw):
        slot = integer_field(
            errors, {f"sim_slots.{index}": item}, f"sim_slots.{index}", default=None, minimum=1, maximum=10
        )
        if slot is not None:
            slots.append(slot)
    if len(set(slots)) != len(slots):
        errors.add("sim_slots", "The sim slots must be distinct.")
    return slots


async def register_device(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    android_id = string_field(errors, body, "android_id", required=True, max_length=16)
    if android_id is not None and not _ANDROID_ID.fullmatch(android_id):
        errors.add("android_id", "The android id field must be 16 hexadecimal characters.")
    slots = _slots(errors, body)
    model = string_field(errors, body, "device_model", required=True, max_length=100)
    version = string_field(errors, body, "app_version", required=True, max_length=50)
    name = string_field(errors, body, "device_name", required=False, max_length=255)
    errors.raise_if_any()
    assert android_id is not None and model is not None and version is not None
    device = await request.app[SERVICES].devices.register(
        request[PRINCIPAL],
        android_id=android_id.lower(),
        sim_slots=slots,
        device_model=model,
        app_version=version,
        device_name=name,
    )
    return web.json_response(device_json(device), status=201)


async def show_device(request: web.Request) -> web.Response:
    device = await request.app[SERVICES].devices.get(request[PRINCIPAL], _device_id(request))
    return web.json_response(device_json(device))


async def update_device(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    name = string_field(errors, body, "device_name", required=False, max_length=255)
    phone = _phone(errors, body)
    version = string_field(errors, body, "app_version", required=False, max_length=50)
    errors.raise_if_any()
    device = await request.app[SERVICES].devices.update(
        request[PRINCIPAL], _device_id(request), device_name=name, phone_number=phone, app_version=version
    )
    return web.json_response(device_json(device))


async def delete_device(request: web.Request) -> web.Response:
    await request.app[SERVICES].devices.delete(request[PRINCIPAL], _device_id(request))
    return web.json_response({"message": "Device deleted successfully."})


async def disable_device(request: web.Request) -> web.Response:
    device = await request.app[SERVICES].devices.set_enabled(request[PRINCIPAL], _device_id(request), False)
    return web.json_response(device_json(device))


async def enable_device(request: web.Request) -> web.Response:
    device = await request.app[SERVICES].devices.set_enabled(request[PRINCIPAL], _device_id(request), True)
    return web.json_response(device_json(device))


async def device_config(request: web.Request) -> web.Response:
    config = await request.app[SERVICES].devices.config(request[PRINCIPAL], _device_id(request))
    return web.json_response(config)


def _sim_signals(errors: FieldErrors, body: dict[str, Any]) -> list[SimSignal]:
    raw = body.get("sim_cards")
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.add("sim_cards", "The sim cards field must be an array.")
        return []
    signals = []
    for index, item in enumerate(raw):
        fields = item if isinstance(item, dict) else {}
        card = integer_field(errors, fields, "id", default=None, minimum=1)
        value = integer_field(errors, fields, "signal_strength", default=None, minimum=0, maximum=100)
        if card is None or value is None:
            errors.add(f"sim_cards.{index}", "Each SIM card needs an id and a signal strength 0..100.")
        else:
            signals.append(SimSignal(card, value))
    return signals


async def heartbeat(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    battery = integer_field(errors, body, "battery_level", default=None, minimum=0, maximum=100)
    signal = integer_field(errors, body, "signal_strength", default=None, minimum=0, maximum=100)
    doze = boolean_field(errors, body, "is_in_doze_mode", default=False)
    signals = _sim_signals(errors, body)
    errors.raise_if_any()
    services = request.app[SERVICES]
    next_in = await services.presence.heartbeat(
        request[PRINCIPAL],
        _device_id(request),
        battery_level=battery,
        signal_strength=signal,
        is_in_doze_mode=bool(doze),
        sim_signals=signals,
    )
    return web.json_response(
        {
            "success": True,
            "next_heartbeat_in": next_in,
            "server_time": iso_utc(request.app[SERVICES].devices.now()),
        }
    )


def _received_at(errors: FieldErrors, body: dict[str, Any]) -> datetime | None:
    raw = string_field(errors, body, "received_at", required=False, max_length=40)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        errors.add("received_at", "The received at field must be an ISO 8601 date-time with a time zone.")
        return None
    return moment


async def submit_message(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    sender = string_field(errors, body, "from", required=True, max_length=20)
    text = string_field(errors, body, "body", required=True, max_length=1600)
    message_id = string_field(errors, body, "message_id", required=True, max_length=36)
    if message_id is not None:
        try:
            message_id = str(uuid.UUID(message_id))
        except ValueError:
            errors.add("message_id", "The message id field must be a valid UUID.")
    received_at = _received_at(errors, body)
    slot = integer_field(errors, body, "sim_slot", default=None, minimum=1, maximum=2)
    errors.raise_if_any()
    assert sender is not None and text is not None and message_id is not None
    await request.app[SERVICES].devices.submit_message(
        request[PRINCIPAL],
        _device_id(request),
        sender=sender,
        body=text,
        message_id=message_id,
        received_at=received_at,
        sim_slot=slot,
    )
    return web.json_response(
        {"message": "SMS received and queued for processing", "message_id": message_id}, status=202
    )


async def add_sim_card(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    slot = integer_field(errors, body, "sim_slot", default=None, minimum=1, maximum=10)
    if slot is None and not errors:
        errors.add("sim_slot", "The sim slot field is required.")
    errors.raise_if_any()
    assert slot is not None
    card = await request.app[SERVICES].sim_cards.add(request[PRINCIPAL], _device_id(request), slot)
    return web.json_response(pending_json(card), status=201)


async def update_sim_card(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    phone = _phone(errors, body)
    slot = integer_field(errors, body, "sim_slot", default=None, minimum=1, maximum=10)
    errors.raise_if_any()
    card = await request.app[SERVICES].sim_cards.update(
        request[PRINCIPAL],
        _device_id(request),
        _card_id(request),
        phone_number=phone,
        sim_slot=slot,
        slot_given="sim_slot" in body,
    )
    return web.json_response(sim_card_json(card))


async def remove_sim_card(request: web.Request) -> web.Response:
    card = await request.app[SERVICES].sim_cards.remove(
        request[PRINCIPAL], _device_id(request), _card_id(request)
    )
    return web.json_response(sim_card_json(card))


async def reverify_sim_card(request: web.Request) -> web.Response:
    card = await request.app[SERVICES].sim_cards.reverify(
        request[PRINCIPAL], _device_id(request), _card_id(request)
    )
    return web.json_response(pending_json(card))


def add_routes(app: web.Application) -> None:
    one = f"/api/byos/devices/{{device:{ID}}}"
    card = one + f"/sim-cards/{{simCard:{ID}}}"
    app.router.add_get("/api/byos/devices", list_devices)
    app.router.add_post("/api/byos/devices", register_device)
    app.router.add_get(one, show_device)
    app.router.add_put(one, update_device)
    app.router.add_delete(one, delete_device)
    app.router.add_post(one + "/disable", disable_device)
    app.router.add_post(one + "/enable", enable_device)
    app.router.add_get(one + "/config", device_config)
    app.router.add_post(one + "/heartbeat", heartbeat)
    app.router.add_post(one + "/messages", submit_message)
    app.router.add_post(one + "/sim-cards", add_sim_card)
    app.router.add_put(card, update_sim_card)
    app.router.add_delete(card, remove_sim_card)
    app.router.add_post(card + "/verify", reverify_sim_card)
