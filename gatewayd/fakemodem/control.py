"""HTTP control interface of a FakeBank (aiohttp): list modems, inject SMS, read SIM storage and sent PDUs,
pull and re-plug modems. For tests, demos and benchmarks on loopback; it has no authentication by design.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from aiohttp import web

from gatewayd.fakemodem.bank import BankModem, FakeBank, UnknownModem
from gatewayd.fakemodem.dialect import ModemFaults
from gatewayd.fakemodem.network import ENCODING_NAMES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8026
BANK_KEY = web.AppKey("bank", FakeBank)

# TS 23.040 §9.1.2.5: up to 20 digits; alphanumeric senders carry up to 11 GSM-7 characters.
_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,20}")
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 .\-_]{1,11}")


class _Invalid(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(next(iter(errors.values()))[0])
        self.errors = errors


def _unprocessable(errors: dict[str, list[str]]) -> web.Response:
    message = next(iter(errors.values()))[0]
    return web.json_response({"message": message, "errors": errors}, status=422)


def _entry(request: web.Request) -> BankModem:
    bank = request.app[BANK_KEY]
    raw = request.match_info["index"]
    if not raw.isdigit():
        raise web.HTTPNotFound(text=f'{{"message": "no modem {raw!r}"}}', content_type="application/json")
    try:
        return bank[int(raw)]
    except UnknownModem as missing:
        raise web.HTTPNotFound(text=f'{{"message": "{missing}"}}', content_type="application/json") from None


def _describe(entry: BankModem) -> dict[str, Any]:
    identity = entry.modem.identity
    return {
        "index": entry.index,
        "path": str(entry.path),
        "plugged": entry.port.is_plugged,
        "imei": identity.imei,
        "iccid": identity.iccid,
        "imsi": identity.imsi,
        "phone_number": identity.phone_number,
        "operator": identity.operator,
        "model": identity.model,
        "storage_used": entry.modem.storage_used,
        "storage_total": entry.modem.storage_total,
        "held_by_network": entry.modem.held_by_network,
    }


async def list_modems(request: web.Request) -> web.Response:
    return web.json_response({"modems": [_describe(entry) for entry in request.app[BANK_KEY].modems]})


async def show_modem(request: web.Request) -> web.Response:
    return web.json_response(_describe(_entry(request)))


async def read_storage(request: web.Request) -> web.Response:
    modem = _entry(request).modem
    messages = [{"index": m.index, "status": int(m.status), "pdu": m.pdu} for m in modem.storage]
    return web.json_response({"messages": messages, "used": modem.storage_used, "total": modem.storage_total})


async def read_sent(request: web.Request) -> web.Response:
    modem = _entry(request).modem
    return web.json_response({"submitted": [{"mr": s.mr, "pdu": s.pdu} for s in modem.submitted]})


async def inject_sms(request: web.Request) -> web.Response:
    entry = _entry(request)
    try:
        body = await request.json()
    except ValueError:
        return _unprocessable({"body": ["The body must be a JSON object."]})
    try:
        sender, payload, encoding_name, reference = _parse_sms(body)
    except _Invalid as invalid:
        return _unprocessable(invalid.errors)
    encoding = ENCODING_NAMES[encoding_name] if encoding_name else None
    try:
        injected = request.app[BANK_KEY].inject(
            entry.index, sender, payload, encoding=encoding, reference=reference
        )
    except ValueError as refused:  # the codec's word: text not in the alphabet, too long, ...
        field = "encoding" if encoding_name else ("text" if isinstance(payload, str) else "data_base64")
        return _unprocessable({field: [str(refused)]})
    return web.json_response({"parts": injected.parts, "indexes": injected.indexes}, status=201)


def _parse_sms(body: object) -> tuple[str, str | bytes, str | None, int | None]:
    if not isinstance(body, dict):
        raise _Invalid({"body": ["The body must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    sender = body.get("from")
    if not isinstance(sender, str) or not (
        _NUMERIC_SENDER.fullmatch(sender) or _ALPHANUMERIC_SENDER.fullmatch(sender)
    ):
        errors["from"] = ["The from field must be a number of up to 20 digits or up to 11 letters."]
    payload = _parse_payload(body, errors)
    encoding = body.get("encoding")
    if encoding is not None and encoding not in ENCODING_NAMES:
        errors["encoding"] = [f"The encoding must be one of {', '.join(ENCODING_NAMES)}."]
    reference = body.get("reference")
    if reference is not None and (type(reference) is not int or not 0 <= reference <= 255):
        errors["reference"] = ["The reference must be an integer from 0 to 255."]
    if errors:
        raise _Invalid(errors)
    assert isinstance(sender, str) and payload is not None
    return sender, payload, encoding, reference


def _parse_payload(body: dict[str, Any], errors: dict[str, list[str]]) -> str | bytes | None:
    text, data = body.get("text"), body.get("data_base64")
    if (text is None) == (data is None):
        errors["text"] = ["Give exactly one of text and data_base64."]
        return None
    if text is not None:
        if not isinstance(text, str) or text == "":
            errors["text"] = ["The text must be a non-empty string."]
            return None
        return text
    try:
        decoded = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
    except binascii.Error:
        decoded = b""
    if not decoded:
        errors["data_base64"] = ["The data_base64 field must be non-empty base64."]
        return None
    return decoded


async def report_delivery(request: web.Request) -> web.Response:
    """The SC's status report for a sent message: body `{"status": 0}` (TP-ST, default 0 = delivered)."""
    entry = _entry(request)
    body: object = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return _unprocessable({"body": ["The body must be a JSON object."]})
    status = body.get("status", 0) if isinstance(body, dict) else None
    if type(status) is not int or not 0 <= status <= 255:
        return _unprocessable({"status": ["The status must be an integer from 0 to 255."]})
    raw_mr = request.match_info["mr"]
    try:
        reported = entry.modem.report_delivery(int(raw_mr) if raw_mr.isdigit() else -1, status)
    except LookupError as missing:
        return web.json_response({"message": str(missing)}, status=404)
    entry.port.pump()
    return web.json_response({"reported": reported})


async def unplug(request: web.Request) -> web.Response:
    entry = _entry(request)
    entry.port.unplug()
    return web.json_response(_describe(entry))


async def replug(request: web.Request) -> web.Response:
    entry = _entry(request)
    entry.port.replug()
    return web.json_response(_describe(entry))


async def reboot(request: web.Request) -> web.Response:
    entry = _entry(request)
    entry.modem.reboot()
    entry.port.pump()
    return web.json_response(_describe(entry))


async def set_faults(request: web.Request) -> web.Response:
    """Body `{"mute": bool, "garbage_hex": str, "command_errors": {"+CMGS": 500}}`: replaces the faults."""
    entry = _entry(request)
    body = await request.json()
    errors: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        return _unprocessable({"body": ["must be a JSON object"]})
    mute, garbage, command_errors = (
        body.get("mute", False),
        body.get("garbage_hex", ""),
        body.get("command_errors", {}),
    )
    if not isinstance(mute, bool):
        errors["mute"] = ["must be true or false"]
    try:
        garbage_bytes = bytes.fromhex(garbage) if isinstance(garbage, str) else None
    except ValueError:
        garbage_bytes = None
    if garbage_bytes is None:
        errors["garbage_hex"] = ["must be a hex string"]
    if not isinstance(command_errors, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in command_errors.items()
    ):
        errors["command_errors"] = ["must map command names to +CMS error codes"]
    if errors:
        return _unprocessable(errors)
    entry.modem.faults = ModemFaults(
        mute=mute,
        garbage_before_reply=garbage_bytes or b"",
        command_errors=MappingProxyType(dict(command_errors)),
    )
    return web.json_response(_describe(entry))


def create_control_app(bank: FakeBank) -> web.Application:
    app = web.Application()
    app[BANK_KEY] = bank
    app.router.add_get("/modems", list_modems)
    app.router.add_get("/modems/{index}", show_modem)
    app.router.add_post("/modems/{index}/sms", inject_sms)
    app.router.add_get("/modems/{index}/storage", read_storage)
    app.router.add_get("/modems/{index}/sent", read_sent)
    app.router.add_post("/modems/{index}/sent/{mr}/report", report_delivery)
    app.router.add_post("/modems/{index}/unplug", unplug)
    app.router.add_post("/modems/{index}/replug", replug)
    app.router.add_post("/modems/{index}/reboot", reboot)
    app.router.add_put("/modems/{index}/faults", set_faults)
    return app


@dataclass
class ControlServer:
    runner: web.AppRunner
    url: str

    async def close(self) -> None:
        await self.runner.cleanup()

    async def cleanup(self) -> None:
        """The same as `close`, under the name web.AppRunner uses."""
        await self.close()


async def start_control_server(
    bank: FakeBank, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> ControlServer:
    """Serve the control app; port 0 picks a free port, and `url` tells which."""
    runner = web.AppRunner(create_control_app(bank), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    return ControlServer(runner, f"http://{shown_host}:{bound_port}")
