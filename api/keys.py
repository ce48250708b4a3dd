"""Typed keys for what the app and each request carry (aiohttp AppKey/RequestKey); no module-level state.

Only names live here: the values are put in by create_app and the auth middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

if TYPE_CHECKING:
    from api.settings import ApiSettings
    from gatewayd.clock import Clock
    from gatewayd.services.container import Services
    from gatewayd.services.views import Principal

SERVICES: Final[web.AppKey[Services]] = web.AppKey("simrelay.services")
SETTINGS: Final[web.AppKey[ApiSettings]] = web.AppKey("simrelay.api_settings")
OPENAPI_JSON: Final[web.AppKey[str]] = web.AppKey("simrelay.openapi_json")  # serialised once at startup
DOCS_HTML: Final[web.AppKey[str]] = web.AppKey("simrelay.docs_html")
CLOCK: Final[web.AppKey[Clock]] = web.AppKey("simrelay.clock")

PRINCIPAL: Final[web.RequestKey[Principal]] = web.RequestKey("simrelay.principal")
