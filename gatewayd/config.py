"""Settings: TOML file, then `SIMRELAY_<SECTION>_<KEY>` environment overrides, then CLI flags.

Produces one frozen, validated `Settings`. Every error names where the bad value came from (the file,
`environment` or `command line`) and the dotted key, and is raised at start, never later.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gatewayd.errors import ConfigError

DEFAULT_CONFIG_PATHS = (Path("/etc/simrelay/simrelay.toml"), Path("simrelay.toml"))
DEFAULT_DB_URL = "sqlite+aiosqlite:///var/simrelay.db"
ENV_PREFIX = "SIMRELAY_"


@dataclass(frozen=True)
class DbSettings:
    url: str = DEFAULT_DB_URL


@dataclass(frozen=True)
class ApiSection:
    listen: str = "127.0.0.1:8080"
    public_url: str = ""  # what clients are told (websocket-config, OAuth); derived from listen when empty
    max_body_bytes: int = 1_048_576
    rate_limit_per_minute: int = 600  # requests per API key or token per minute (X-RateLimit-*)
    # A message page read again is served from memory until the SIM's next event; this bounds how long a
    # page can outlive a lost event (and a SIM's unassignment). 0: every read goes to the database.
    page_cache_ttl_s: float = 5.0


@dataclass(frozen=True)
class GatewaySection:
    modems: tuple[str, ...] = ()  # static serial ports, always driven
    discover: bool = True  # enumerate and watch udev for known modems
    profiles_dir: str = ""  # empty: the profiles shipped with the package
    banks_dir: str = ""
    baudrate: int = 115200
    sweep_interval_s: float = 60.0  # AT+CMGL sweep that catches what a lost +CMTI left behind
    poll_interval_s: float = 30.0  # signal and registration
    # Many hosts (`simrelay gateway`): the name this host heart-beats under (empty: the machine's host
    # name), how often, and after how much silence an API process shows its SIMs offline.
    host_name: str = ""
    heartbeat_interval_s: float = 5.0
    host_stale_after_s: float = 15.0
    metrics_listen: str = ""  # HOST:PORT where `simrelay gateway` serves /metrics; empty: not served


@dataclass(frozen=True)
class EngineSection:
    """Modem engine policy (issue 3). Quotas of 0 mean no quota."""

    sim_pin: str = ""  # PIN entered for any SIM that asks and has no entry in sim_pins (empty: none)
    sim_pins: tuple[str, ...] = ()  # "ICCID=PIN" or "PORT=PIN" (e.g. "/dev/ttyUSB2=1234"), port first
    reassembly_timeout_s: float = 600.0  # parts older than this become one message marked incomplete
    send_min_interval_s: float = 0.0  # per SIM, between two outbound messages
    send_jitter_s: float = 0.0  # up to this much added at random to each interval
    send_hourly_quota: int = 0  # parts per SIM per hour
    send_daily_quota: int = 0  # parts per SIM per day


def _check_pin(value: str) -> str | None:
    # TS 31.102 §9.2 / TS 27.007 §8.3: a PIN is 4 to 8 digits.
    return None if not value or (value.isdigit() and 4 <= len(value) <= 8) else "a PIN is 4 to 8 digits"


def _check_pin_entries(values: tuple[str, ...]) -> str | None:
    for entry in values:
        key, sep, pin = entry.partition("=")
        if not sep or not key or not pin or _check_pin(pin):
            return f"expected ICCID=PIN or PORT=PIN with a 4-8 digit PIN, got {entry.split('=')[0]}=..."
    return None


def pin_table(engine: EngineSection) -> dict[str, str]:
    """`sim_pins` as {ICCID or port: PIN}."""
    return dict(entry.partition("=")[::2] for entry in engine.sim_pins)


@dataclass(frozen=True)
class SimulateSection:
    count: int = 0
    control: str = "127.0.0.1:8026"
    directory: str = "var/simulated"


@dataclass(frozen=True)
class RealtimeSection:
    """The Pusher-protocol feed. Empty credentials are generated once into `state_dir` (realtime.json)."""

    app_id: str = ""
    app_key: str = ""
    app_secret: str = ""
    state_dir: str = "var"
    allowed_origins: tuple[str, ...] = ("*",)  # host patterns as Reverb matches them ("*.example.com")
    max_connections: int = 10_000
    max_message_bytes: int = 10_000
    activity_timeout_s: int = 30
    client_events: bool = False
    public_host: str = ""  # empty: the host of the public base URL
    public_port: int = 0  # 0: the port of the public base URL
    scheme: str = ""  # http or https; empty: the scheme of the public base URL


@dataclass(frozen=True)
class WebhooksSection:
    """Webhook delivery. `secret_key` (a Fernet key) seals signing secrets; empty: generated once into
    `state_dir/webhook-secret.key`. Private networks and plain http are refused unless allowed here."""

    allow_private_networks: bool = False
    allow_http: bool = False
    secret_key: str = ""
    state_dir: str = "var"
    max_in_flight: int = 64
    max_per_destination: int = 8
    poll_interval_s: float = 5.0  # the webhook worker's safety check; bus events wake it sooner
    lease_margin_s: float = 15.0


@dataclass(frozen=True)
class LocksSection:
    default_ttl_s: int = 300  # a SIM lock's lifetime when the client does not ask for one
    sweep_interval_s: float = 15.0  # how often expired locks are deleted and announced (sim.unlocked)


@dataclass(frozen=True)
class ByosSection:
    twilio_number: str = ""  # the number BYOS phones SMS their SR-XXXX code to (E.164)
    twilio_auth_token: str = ""  # empty: every Twilio webhook call is refused (403)
    public_url: str = ""  # the webhook origin as Twilio calls it (behind a proxy); empty: the request's URL
    heartbeat_interval_s: int = 300
    offline_after_s: int = 360
    doze_offline_after_s: int = 960
    alert_after_missed: int = 2  # one email to the owner after this many missed timeouts in a row
    sweep_interval_s: float = 30.0


@dataclass(frozen=True)
class SmtpSection:
    host: str = ""  # empty: no offline emails
    port: int = 25
    username: str = ""
    password: str = ""
    sender: str = "SimRelay <noreply@simrelay.invalid>"
    starttls: bool = False


@dataclass(frozen=True)
class LogSection:
    level: str = "info"


@dataclass(frozen=True)
class Settings:
    db: DbSettings = field(default_factory=DbSettings)
    api: ApiSection = field(default_factory=ApiSection)
    gateway: GatewaySection = field(default_factory=GatewaySection)
    simulate: SimulateSection = field(default_factory=SimulateSection)
    engine: EngineSection = field(default_factory=EngineSection)
    log: LogSection = field(default_factory=LogSection)
    locks: LocksSection = field(default_factory=LocksSection)
    webhooks: WebhooksSection = field(default_factory=WebhooksSection)
    realtime: RealtimeSection = field(default_factory=RealtimeSection)
    byos: ByosSection = field(default_factory=ByosSection)
    smtp: SmtpSection = field(default_factory=SmtpSection)
    source: str = "defaults"  # the file the settings came from, for messages


def _check_listen(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return "expected HOST:PORT with a port from 1 to 65535"
    return None


def _check_db_url(value: str) -> str | None:
    if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return "expected a sqlite+aiosqlite:// or postgresql+asyncpg:// URL"
    return None


def _check_level(value: str) -> str | None:
    if value.lower() not in {"debug", "info", "warning", "error"}:
        return "expected one of debug, info, warning, error"
    return None


def _check_scheme(value: str) -> str | None:
    return None if value in {"", "http", "https"} else "expected http or https"


def _check_port_or_zero(value: int) -> str | None:
    return None if 0 <= value < 65536 else "expected 0 (derived) or a port from 1 to 65535"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


# Extra checks beyond the type, by dotted key.
_CHECKS: Mapping[str, Callable[[Any], str | None]] = {
    "db.url": _check_db_url,
    "api.listen": _check_listen,
    "api.max_body_bytes": _positive,
    "gateway.baudrate": _positive,
    "gateway.sweep_interval_s": _positive,
    "gateway.poll_interval_s": _positive,
    "gateway.heartbeat_interval_s": _positive,
    "gateway.host_stale_after_s": _positive,
    "simulate.count": _non_negative,
    "engine.sim_pin": _check_pin,
    "engine.sim_pins": _check_pin_entries,
    "engine.reassembly_timeout_s": _positive,
    "engine.send_min_interval_s": _non_negative,
    "engine.send_jitter_s": _non_negative,
    "engine.send_hourly_quota": _non_negative,
    "engine.send_daily_quota": _non_negative,
    "simulate.control": _check_listen,
    "gateway.metrics_listen": lambda value: _check_listen(value) if value else None,
    "log.level": _check_level,
    "locks.default_ttl_s": lambda value: None if 1 <= value <= 86_400 else "expected 1 to 86400 seconds",
    "locks.sweep_interval_s": _positive,
    "api.rate_limit_per_minute": _positive,
    "api.page_cache_ttl_s": _non_negative,
    "webhooks.max_in_flight": _positive,
    "webhooks.max_per_destination": _positive,
    "webhooks.poll_interval_s": _positive,
    "webhooks.lease_margin_s": _positive,
    "realtime.max_connections": _positive,
    "realtime.max_message_bytes": _positive,
    "realtime.activity_timeout_s": _positive,
    "realtime.public_port": _check_port_or_zero,
    "realtime.scheme": _check_scheme,
    "byos.heartbeat_interval_s": _positive,
    "byos.offline_after_s": _positive,
    "byos.doze_offline_after_s": _positive,
    "byos.alert_after_missed": _positive,
    "byos.sweep_interval_s": _positive,
    "smtp.port": lambda value: None if 0 < value < 65536 else "expected a port from 1 to 65535",
}

_SECTIONS: Mapping[str, type] = {
    "db": DbSettings,
    "api": ApiSection,
    "gateway": GatewaySection,
    "simulate": SimulateSection,
    "engine": EngineSection,
    "log": LogSection,
    "locks": LocksSection,
    "webhooks": WebhooksSection,
    "realtime": RealtimeSection,
    "byos": ByosSection,
    "smtp": SmtpSection,
}


# Keys whose values must never reach a log or a terminal, even in an error about them.
SECRET_KEYS = frozenset({
    "engine.sim_pin", "engine.sim_pins", "webhooks.secret_key", "realtime.app_secret",
    "byos.twilio_auth_token", "smtp.password",
})  # fmt: skip


def shown(key: str, value: Any) -> str:
    """How a bad value is quoted in an error: as given, or withheld for a secret."""
    return "(value withheld: secret)" if key in SECRET_KEYS else repr(value)


def _coerce(source: str, key: str, value: Any, default: Any, *, from_text: bool) -> Any:
    """Convert `value` to the type of `default`; text from the environment is parsed."""
    expected = type(default)
    try:
        if expected is bool:
            if from_text:
                lowered = str(value).strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError
                return lowered in {"1", "true", "yes", "on"}
            if not isinstance(value, bool):
                raise ValueError
            return value
        if expected is tuple:
            if from_text:
                return tuple(part.strip() for part in str(value).split(",") if part.strip())
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError
            return tuple(value)
        if expected is int:
            if isinstance(value, bool) or (not from_text and not isinstance(value, int)):
                raise ValueError
            return int(value)
        if expected is float:
            if isinstance(value, bool) or (not from_text and not isinstance(value, int | float)):
                raise ValueError
            return float(value)
        if not from_text and not isinstance(value, str):
            raise ValueError
        return str(value)
    except ValueError:
        names = {bool: "a boolean", tuple: "a list of strings", int: "an integer", float: "a number"}
        raise ConfigError(
            source, key, f"expected {names.get(expected, 'a string')}, got {shown(key, value)}"
        ) from None


def _apply(
    settings: Settings, source: str, values: Mapping[str, Mapping[str, Any]], *, from_text: bool
) -> Settings:
    updates: dict[str, Any] = {}
    for section_name, section_values in values.items():
        section_type = _SECTIONS.get(section_name)
        if section_type is None:
            raise ConfigError(source, section_name, "unknown section")
        if not isinstance(section_values, Mapping):
            raise ConfigError(source, section_name, "expected a table")
        current = updates.get(section_name, getattr(settings, section_name))
        known = {f.name for f in fields(section_type)}
        changes: dict[str, Any] = {}
        for key, raw in section_values.items():
            dotted = f"{section_name}.{key}"
            if key not in known:
                raise ConfigError(source, dotted, "unknown key")
            value = _coerce(source, dotted, raw, getattr(section_type(), key), from_text=from_text)
            check = _CHECKS.get(dotted)
            problem = check(value) if check else None
            if problem:
                raise ConfigError(source, dotted, f"{problem} (got {shown(dotted, raw)})")
            changes[key] = value
        updates[section_name] = replace(current, **changes)
    return replace(settings, **updates)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror}") from None


def _environment_values(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`SIMRELAY_GATEWAY_POLL_INTERVAL_S=5` → {"gateway": {"poll_interval_s": "5"}}."""
    values: dict[str, dict[str, str]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section in _SECTIONS and key:
            values.setdefault(section, {})[key] = raw
    return values


def load_settings(
    config_path: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """File (explicit, else the first default path that exists), then environment, then CLI overrides."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    path: Path | None = None
    if config_path is not None:
        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(config_path, "(file)", "no such file")
    else:
        path = next((p for p in DEFAULT_CONFIG_PATHS if p.is_file()), None)
    if path is not None:
        settings = _apply(settings, str(path), _read_file(path), from_text=False)
        settings = replace(settings, source=str(path))
    settings = _apply(settings, "environment", _environment_values(environ), from_text=True)
    if overrides:
        settings = _apply(settings, "command line", overrides, from_text=False)
    return settings


def public_base_url(settings: Settings) -> str:
    """The URL clients are told to use: `api.public_url`, else derived from `api.listen`."""
    if settings.api.public_url:
        return settings.api.public_url.rstrip("/")
    host, _, port = settings.api.listen.rpartition(":")
    if host in {"0.0.0.0", "::", "[::]"}:
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def realtime_credentials(section: RealtimeSection) -> tuple[str, str, str]:
    """(app_id, app_key, app_secret): each configured value, else the one generated once into
    `state_dir/realtime.json`, so clients keep working across restarts."""
    path = Path(section.state_dir) / "realtime.json"
    try:
        stored = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read as JSON: {exc}") from None
    generated = {
        "app_id": stored.get("app_id") or str(secrets.randbelow(900_000) + 100_000),
        "app_key": stored.get("app_key") or secrets.token_hex(10),
        "app_secret": stored.get("app_secret") or secrets.token_hex(20),
    }
    if generated != stored and not (section.app_id and section.app_key and section.app_secret):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created owner-only from the start: the secret signs every channel subscription.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(generated))
    return (
        section.app_id or generated["app_id"],
        section.app_key or generated["app_key"],
        section.app_secret or generated["app_secret"],
    )
