"""`POST /api/webhooks/twilio/sms`: Twilio's inbound-SMS webhook for BYOS verification codes.

The signature is checked over the URL Twilio called (the configured public URL behind a proxy) and every
posted parameter; anything else is refused with 403 before the form is looked at. Replies empty TwiML.
"""

from __future__ import annotations

from aiohttp import web

from api.keys import SERVICES
from gatewayd.errors import Forbidden

PATH = "/api/webhooks/twilio/sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def twilio_sms(request: web.Request) -> web.Response:
    twilio = request.app[SERVICES].twilio
    form = {name: value for name, value in (await request.post()).items() if isinstance(value, str)}
    url = twilio.public_url + request.path_qs if twilio.public_url else str(request.url)
    if not twilio.signature_valid(url, form, request.headers.get("X-Twilio-Signature")):
        raise Forbidden("Invalid Twilio signature.")
    await twilio.receive(form)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def add_routes(app: web.Application) -> None:
    app.router.add_post(PATH, twilio_sms)
