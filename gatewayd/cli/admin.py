"""`simrelay admin ...`: create organisations, teams, users and API keys, and assign SIMs.

Thin: parses arguments, calls AdminService, prints one JSON object (`--json`) or a line of text.
Domain errors propagate to gatewayd.cli.main, which prints them to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import segno

from gatewayd.cli.db import add_database_options, database_url
from gatewayd.clock import SystemClock
from gatewayd.errors import ValidationFailed
from gatewayd.services.accounts import AccountService, TotpEnrollment
from gatewayd.services.admin import AdminService
from gatewayd.store.engine import create_engine, session_factory

AdminAction = Callable[[AdminService, argparse.Namespace], Awaitable[tuple[dict[str, Any], str]]]


def register(subparsers: Any) -> None:
    admin = subparsers.add_parser("admin", help="organisations, teams, users, SIM assignment, API keys")
    groups = admin.add_subparsers(dest="admin_group", required=True, metavar="GROUP")

    org = _action(_group(groups, "org"), "create", _create_org, "create an organisation")
    org.add_argument("name", metavar="NAME")

    team = _action(_group(groups, "team"), "create", _create_team, "create a team in an organisation")
    team.add_argument("--org", required=True, metavar="ORG", help="organisation name or id")
    team.add_argument("name", metavar="NAME")

    users = _group(groups, "user")
    user = _action(users, "create", _create_user, "create a user (optionally in a team)")
    user.add_argument("--org", required=True, metavar="ORG")
    user.add_argument("--team", metavar="TEAM")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    secret = user.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password", metavar="P")
    secret.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    totp = users.add_parser("totp", help="two-factor login (TOTP)").add_subparsers(
        dest="admin_user_totp", required=True, metavar="ACTION")
    enable = totp.add_parser("enable", help="turn TOTP on; prints the otpauth URI and a QR code")
    add_database_options(enable)
    enable.add_argument("--email", required=True)
    enable.set_defaults(handler=_enable_totp)

    sim = _action(_group(groups, "sim"), "assign", _assign_sims, "assign SIMs to an organisation (and team)")
    which = sim.add_mutually_exclusive_group(required=True)
    which.add_argument("--iccid")
    which.add_argument("--sim", type=int, metavar="ID")
    which.add_argument("--all-unassigned", action="store_true")
    sim.add_argument("--org", required=True, metavar="ORG")
    sim.add_argument("--team", metavar="TEAM")

    key = _action(_group(groups, "api-key"), "create", _create_api_key, "create an API key (shown once)")
    key.add_argument("--org", required=True, metavar="ORG")
    key.add_argument("--user", required=True, metavar="EMAIL")
    key.add_argument("--name", required=True)
    key.add_argument("--permissions", required=True, help="comma-separated, e.g. numbers.read,messages.read")

    client = _group(groups, "oauth-client").add_parser("create", help="register an OAuth2 client")
    add_database_options(client)
    client.add_argument("--name", required=True)
    client.add_argument("--redirect-uri", required=True, nargs="+", metavar="URI", dest="redirect_uris")
    client.add_argument("--public", action="store_true", help="no secret; PKCE S256 required")
    client.set_defaults(handler=_create_oauth_client)


def _group(groups: Any, name: str) -> Any:
    """The verbs of `admin NAME` (each group here has exactly one verb today)."""
    return groups.add_parser(name, help=f"{name} commands").add_subparsers(
        dest=f"admin_{name.replace('-', '_')}", required=True, metavar="ACTION"
    )


def _action(verbs: Any, verb: str, action: AdminAction, summary: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = verbs.add_parser(verb, help=summary)
    add_database_options(parser)
    parser.set_defaults(handler=lambda args: _run(args, action))
    return parser


def _run(args: argparse.Namespace, action: AdminAction) -> int:
    url = database_url(args)

    async def run() -> tuple[dict[str, Any], str]:
        engine = create_engine(url)
        try:
            return await action(AdminService(session_factory(engine), SystemClock()), args)
        finally:
            await engine.dispose()

    payload, text = asyncio.run(run())
    print(json.dumps(payload, default=_json_value) if args.json else text)
    return 0


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot render {type(value).__name__} as JSON: {value!r}")


async def _create_org(admin: AdminService, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    org = await admin.create_organization(args.name)
    return {"organization": dataclasses.asdict(org)}, f"organisation {org.id} {org.name!r} created"


async def _create_team(admin: AdminService, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    team = await admin.create_team(args.org, args.name)
    return {"team": dataclasses.asdict(team)}, f"team {team.id} {team.name!r} created"


async def _create_user(admin: AdminService, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    if not password:
        raise ValidationFailed({"password": ["The password field is required."]})
    user = await admin.create_user(
        args.org, email=args.email, name=args.name, password=password, team=args.team
    )
    return {"user": dataclasses.asdict(user)}, f"user {user.id} {user.email} created"


async def _assign_sims(admin: AdminService, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    sim_ids = await admin.assign_sims(
        org=args.org, team=args.team, iccid=args.iccid, sim_id=args.sim, all_unassigned=args.all_unassigned
    )
    return {"assigned": sim_ids}, f"{len(sim_ids)} SIM(s) assigned: {', '.join(map(str, sim_ids)) or '-'}"


async def _create_api_key(admin: AdminService, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    permissions = [name for name in args.permissions.split(",") if name.strip()]
    view, plain = await admin.create_api_key(
        org=args.org, user_email=args.user, name=args.name, permissions=permissions
    )
    text = f"API key {view.id} {view.name!r} created; copy it now, it is not shown again:\n{plain}"
    return {"api_key": dataclasses.asdict(view), "plain_text_key": plain}, text


def _create_oauth_client(args: argparse.Namespace) -> int:
    """Register an OAuth2 client; a confidential client's secret is shown once, here."""
    from gatewayd.services.auth import AuthService  # noqa: PLC0415 - only this command needs the OAuth stack
    from gatewayd.services.oauth import OAuthService  # noqa: PLC0415

    url = database_url(args)

    async def run() -> tuple[str, str | None]:
        engine = create_engine(url)
        try:
            sessions, clock = session_factory(engine), SystemClock()
            oauth = OAuthService(sessions, clock, AuthService(sessions, clock))
            return await oauth.create_client(args.name, list(args.redirect_uris), public=args.public)
        finally:
            await engine.dispose()

    client_id, secret = asyncio.run(run())
    if args.json:
        print(json.dumps({"client_id": client_id, "client_secret": secret, "name": args.name,
                          "redirect_uris": list(args.redirect_uris), "public": args.public}))
    else:
        print(f"OAuth client {args.name!r}: client_id {client_id}" + (f", secret {secret} (shown once)"
                                                                     if secret else " (public, PKCE)"))
    return 0


def _enable_totp(args: argparse.Namespace) -> int:
    """A fresh TOTP secret for the user: the URI (and a QR code to scan) is shown once, here."""
    url = database_url(args)

    async def run() -> TotpEnrollment:
        engine = create_engine(url)
        try:
            return await AccountService(session_factory(engine), SystemClock()).enable_totp(args.email)
        finally:
            await engine.dispose()

    enrollment = asyncio.run(run())
    if args.json:
        print(json.dumps({"user_id": enrollment.user_id, "email": enrollment.email,
                          "secret": enrollment.secret, "otpauth_uri": enrollment.uri}))
        return 0
    print(f"two-factor login enabled for {enrollment.email}; scan this with an authenticator app:")
    segno.make(enrollment.uri, error="m").terminal(out=sys.stdout, compact=True)
    print(enrollment.uri)
    return 0
