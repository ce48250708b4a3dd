"""`/oauth/authorize` (sign-in, TOTP and consent pages), `/oauth/token` and `/oauth/revoke` (RFC 7009).

Pages are small HTML rendered with string.Template and html.escape; every form carries the browser
session's CSRF token, and the session cookie is HttpOnly and SameSite=Lax. The grant logic lives in
services/oauth.py (Authlib); this module only translates HTTP to it and back.
"""

from __future__ import annotations

import hmac
from html import escape
from string import Template
from urllib.parse import urlencode

from aiohttp import web

from api.keys import SERVICES, SETTINGS
from gatewayd.errors import Throttled, ValidationFailed
from gatewayd.services.oauth import (
    SCOPE_DESCRIPTIONS,
    AuthorizationRefused,
    BrowserSession,
    ConsentRequest,
    Pairs,
    UntrustedRedirect,
)

SESSION_COOKIE = "simrelay_oauth_session"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>$title - SimRelay</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>$title</h1>$body</main></body></html>""")
_FORM = Template("""<form method="post" action="$action">
<input type="hidden" name="csrf_token" value="$csrf"><input type="hidden" name="step" value="$step">
$fields</form>""")
_SIGN_IN_FIELDS = """<label>Email <input type="email" name="email" value="$email" required autofocus></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button>"""
_TOTP_FIELDS = """<label>Authentication code
<input name="code" inputmode="numeric" autocomplete="one-time-code"
pattern="[0-9 ]{6,7}" required autofocus></label><button type="submit">Verify</button>"""
_CONSENT_FIELDS = """<p><strong>$client</strong> asks to act for <strong>$user</strong>:</p><ul>$scopes</ul>
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>"""


def _html(title: str, body: str, status: int = 200) -> web.Response:
    page = _PAGE.substitute(title=escape(title), body=body)
    headers = {**_NO_STORE, "X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'none'; "
               "form-action 'self' https: http://127.0.0.1:* http://[::1]:*; frame-ancestors 'none'"}
    return web.Response(text=page, status=status, content_type="text/html", headers=headers)


def _error_page(error: str, description: str, status: int = 400) -> web.Response:
    return _html("Authorization failed", f"<p>{escape(error)}: {escape(description)}</p>", status)


def _form(params: Pairs, browser: BrowserSession, step: str, fields: str, error: str | None = None) -> str:
    notice = f'<p role="alert">{escape(error)}</p>' if error else ""
    action = "/oauth/authorize?" + urlencode(params)
    return notice + _FORM.substitute(action=escape(action), csrf=escape(browser.csrf_token), step=step,
                                     fields=fields)


def _sign_in_page(params: Pairs, browser: BrowserSession, error: str | None = None, email: str = "") -> str:
    return _form(params, browser, "sign_in", Template(_SIGN_IN_FIELDS).substitute(email=escape(email)), error)


async def _consent_page(request: web.Request, params: Pairs, browser: BrowserSession,
                        consent: ConsentRequest) -> str:
    assert browser.user_id is not None
    user = await request.app[SERVICES].oauth.user_name(browser.user_id)
    scopes = "".join(f"<li><code>{escape(name)}</code>: {escape(SCOPE_DESCRIPTIONS.get(name, name))}</li>"
                     for name in consent.scopes)
    fields = Template(_CONSENT_FIELDS).substitute(client=escape(consent.client_name), user=escape(user),
                                                  scopes=scopes)
    return _form(params, browser, "consent", fields)


def _with_cookie(response: web.Response, request: web.Request, browser: BrowserSession) -> web.Response:
    if browser.is_new:
        public = request.app[SETTINGS].public_base_url
        secure = request.secure or (public is not None and public.startswith("https://"))
        response.set_cookie(SESSION_COOKIE, browser.token, httponly=True, samesite="Lax", path="/oauth",
                            secure=secure, max_age=30 * 60)
    return response


async def _page_for(request: web.Request, params: Pairs, browser: BrowserSession,
                    consent: ConsentRequest) -> web.Response:
    if browser.user_id is not None:
        page = await _consent_page(request, params, browser, consent)
        return _html("Authorize " + consent.client_name, page)
    if browser.pending_user_id is not None:
        return _html("Two-factor authentication", _form(params, browser, "totp", _TOTP_FIELDS))
    return _html("Sign in", _sign_in_page(params, browser))


async def authorize_page(request: web.Request) -> web.Response:
    params = list(request.query.items())
    try:
        consent = await request.app[SERVICES].oauth.check_authorization(params)
    except UntrustedRedirect as refused:
        return _error_page(refused.error, refused.description)
    except AuthorizationRefused as refused:
        raise web.HTTPFound(refused.location) from None
    browser = await request.app[SERVICES].oauth.browser_session(request.cookies.get(SESSION_COOKIE))
    return _with_cookie(await _page_for(request, params, browser, consent), request, browser)


async def authorize_submit(request: web.Request) -> web.Response:
    """One handler for the three forms; `step` says which, the CSRF token must match the cookie's session."""
    params = list(request.query.items())
    oauth = request.app[SERVICES].oauth
    try:
        consent = await oauth.check_authorization(params)
    except UntrustedRedirect as refused:
        return _error_page(refused.error, refused.description)
    except AuthorizationRefused as refused:
        raise web.HTTPFound(refused.location) from None
    form = {name: value for name, value in (await request.post()).items() if isinstance(value, str)}
    browser = await oauth.browser_session(request.cookies.get(SESSION_COOKIE))
    if browser.is_new or not hmac.compare_digest(form.get("csrf_token", ""), browser.csrf_token):
        return _with_cookie(_error_page("invalid_request", "The form expired or did not come from this "
                                        "site (CSRF check failed); start again.", 403), request, browser)
    step = form.get("step")
    if step == "sign_in":
        return await _sign_in(request, params, browser, form, consent)
    if step == "totp" and browser.pending_user_id is not None:
        try:
            await oauth.second_factor(browser, form.get("code", ""))
        except ValidationFailed as failed:
            retry = _form(params, browser, "totp", _TOTP_FIELDS, str(failed))
            return _html("Two-factor authentication", retry)
        browser = await oauth.browser_session(browser.token)
        return await _page_for(request, params, browser, consent)
    if step == "consent" and browser.user_id is not None:
        approved = form.get("decision") == "approve"
        location = await oauth.decide(params, browser.user_id if approved else None)
        raise web.HTTPFound(location)
    return await _page_for(request, params, browser, consent)


async def _sign_in(request: web.Request, params: Pairs, browser: BrowserSession, form: dict[str, str],
                   consent: ConsentRequest) -> web.Response:
    email = form.get("email", "")
    address = request.remote or "unknown"
    try:
        await request.app[SERVICES].oauth.sign_in(browser, email, form.get("password", ""), address=address)
    except ValidationFailed as failed:
        return _html("Sign in", _sign_in_page(params, browser, str(failed), email))
    except Throttled as throttled:
        return _html("Sign in", _sign_in_page(params, browser, f"Too many attempts; retry in "
                                              f"{throttled.retry_after_s} s.", email))
    browser = await request.app[SERVICES].oauth.browser_session(browser.token)
    return await _page_for(request, params, browser, consent)


async def _form_pairs(request: web.Request) -> Pairs:
    return [(name, value) for name, value in (await request.post()).items() if isinstance(value, str)]


async def token(request: web.Request) -> web.Response:
    headers = {name: value for name, value in request.headers.items()}
    reply = await request.app[SERVICES].oauth.token(await _form_pairs(request), headers)
    return web.json_response(reply.body, status=reply.status, headers=_NO_STORE)


async def revoke(request: web.Request) -> web.Response:
    form = dict(await _form_pairs(request))
    if form.get("token"):
        await request.app[SERVICES].oauth.revoke(form["token"], form.get("client_id"))
    return web.json_response({}, headers=_NO_STORE)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/oauth/authorize", authorize_page)
    app.router.add_post("/oauth/authorize", authorize_submit)
    app.router.add_post("/oauth/token", token)
    app.router.add_post("/oauth/revoke", revoke)
