"""One settings object, read from ESCALATOR_* environment variables (an empty value is unset).

`Settings.from_env()` is the only reader of the environment. A field is one variable, its name
upper-cased after ESCALATOR_. Fields come in sections, each a frozen dataclass: the core ones
here, the channels' (`CommsSettings`, also `settings.comms`) and one per platform, which its
package declares and the registry in plugin.platforms names, so a new platform brings its own. A
field's annotation says how its text is read (str, bool, int, float, or Mapping[str, str] of
names to URLs) and its `metadata` how it is checked and shown:

    secret:  True                never shown
    url:     "password"          shown with its password masked
             "credential"        the URL is itself a credential (Slack, Teams): shown as scheme://host/first/****
    schemes: ("https", "http")   must be a URL with one of these schemes and a host
    expects: "text"              what the value should be, for the error message
    parse:   f(variable, value)  a check of its own, raising ValueError with the whole message

A bad value raises one SettingsError that names every bad variable and what it expects.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import get_type_hints
from urllib.parse import urlsplit, urlunsplit

from plugin.domain.errors import EscalatorError
from plugin.platforms import PLATFORMS

MASK = "********"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
SECRET = {"secret": True}
_SECRET_QUERY = ("password", "secret", "token")     # query parameters whose value is a credential


class SettingsError(EscalatorError):
    """Settings that cannot be used: one line per bad variable, naming it and what it expects."""

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def variable(name: str) -> str:
    return f"ESCALATOR_{name.upper()}"


# Checks of their own, named in the fields' metadata below.

def _engine(name: str, value: str) -> str:
    from plugin.engine import BACKENDS  # the engine package loads only where settings are built

    if value not in BACKENDS:
        raise ValueError(f"{name} must be one of {', '.join(BACKENDS)}; got {value[:40]!r}")
    return value


def _log_format(name: str, value: str) -> str:
    if value.lower() not in ("text", "json"):
        raise ValueError(f"{name} must be text or json; got {value[:40]!r}")
    return value.lower()


def _smtp_url(name: str, value: str) -> str:
    from plugin.comms.smtp import SmtpTarget

    try:
        SmtpTarget.parse(value)
        problem = ""
    except SettingsError as exc:
        problem = str(exc)
    if problem:
        raise ValueError(problem)
    return value


class Section:
    """Converts and checks its fields on creation; its repr never shows a secret."""

    def __post_init__(self) -> None:
        problems = []
        hints = _hints(type(self))
        for f in fields(self):
            try:
                value = _read(f, hints[f.name], getattr(self, f.name))
            except ValueError as exc:
                problems.append(str(exc))
                continue
            object.__setattr__(self, f.name, value)     # frozen: this is the one place values change
        if problems:
            raise SettingsError(*problems)

    def section(self, cls: type):
        """The fields of section `cls` as that section, e.g. `settings.section(CommsSettings)`."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={shown_value(f, getattr(self, f.name))!r}" for f in fields(self))
        return f"{type(self).__name__}({shown})"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class CommsSettings(Section):
    """The channels Escalator sends on itself.

    ESCALATOR_SLACK_WEBHOOKS     JSON {"#channel": "https://hooks.slack.com/services/..."}
    ESCALATOR_TEAMS_WEBHOOKS     JSON {"name": "https://...workflow or incoming-webhook URL"}
    ESCALATOR_SMTP_URL           smtp://user:password@host:587?starttls=1, or smtps://host:465
    ESCALATOR_SMTP_FROM          Escalator <escalator@example.com>
    ESCALATOR_STATUSPAGE_URL     a generic status-page webhook, sent {"incident": {...}}
    ESCALATOR_STATUSPAGE_API_KEY and ESCALATOR_STATUSPAGE_PAGE_ID  Atlassian Statuspage instead
    ESCALATOR_WEBHOOK_URL        the generic JSON webhook; ESCALATOR_WEBHOOK_SECRET signs its bodies
    """
    slack_webhooks: Mapping[str, str] = field(default_factory=dict, metadata={"url": "credential"})
    teams_webhooks: Mapping[str, str] = field(default_factory=dict, metadata={"url": "credential"})
    smtp_url: str = field(default="", metadata={"url": "password", "parse": _smtp_url})
    smtp_from: str = ""
    statuspage_url: str = field(default="", metadata={"url": "credential", "schemes": ("https", "http")})
    statuspage_api_key: str = field(default="", metadata=SECRET)
    statuspage_page_id: str = ""
    webhook_url: str = field(default="", metadata={"url": "credential", "schemes": ("https", "http")})
    webhook_secret: str = field(default="", metadata=SECRET)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CommsSettings:
        return Settings.from_env(environ).comms


@dataclass(frozen=True, repr=False)
class CoreSettings(Section):
    """Where the matrix, the data and the database are, the rule backend, the API token, the body limit."""
    rules: str = "rules"
    engine: str = field(default="durable", metadata={"parse": _engine})
    data_dir: str = "data"
    database_url: str = field(default="", metadata={"url": "password"})
    # Redis that wakes the processors on every host when intake stores a delivery (redis://host:6379/0).
    queue_url: str = field(default="", metadata={"url": "password", "schemes": ("redis", "rediss")})
    api_token: str = field(default="", metadata=SECRET)
    max_body_bytes: int = field(default=1048576, metadata={"expects": "a number of bytes above 0, e.g. 1048576"})
    # How many reverse proxies in front set X-Forwarded-For/-Proto/-Host: 0 trusts none of those headers.
    trusted_proxies: int = field(default=0, metadata={
        "minimum": 0, "expects": "the number of reverse proxies in front, a whole number (0: none)"})
    log_format: str = field(default="text", metadata={"parse": _log_format})
    # The dashboard's address as people open it (https://escalator.example.com), for the links in
    # draft notices posted on tickets and sent to owners; without it those links are paths.
    public_url: str = field(default="", metadata={"url": "password", "schemes": ("https", "http")})


@dataclass(frozen=True, repr=False)
class OutboxSettings(Section):
    """How write-backs are retried and paced (see plugin.outbox).

    With the defaults a row is retried 19 times, waiting 2 s, 4 s, ... doubling up to 900 s (each wait
    between half and all of that), so it goes dead after 1 h 23 min at the soonest: a platform down for
    an hour loses nothing.
    """
    # Rows of different tickets sent side by side: a platform's answer takes longer than our part.
    outbox_lanes: int = field(default=4, metadata={"expects": "how many write-backs at once, e.g. 4"})
    outbox_max_attempts: int = field(default=20, metadata={"expects": "how many sends before a dead letter, e.g. 20"})
    outbox_base_delay: float = field(default=2.0, metadata={
        "minimum": 0.01, "expects": "seconds before the first retry, above 0, e.g. 2"})
    outbox_max_delay: float = field(default=900.0, metadata={
        "minimum": 0.01, "expects": "the longest wait between retries in seconds, e.g. 900"})
    # Seconds to wait for a platform's answer before counting the write as failed (and retrying it).
    writeback_timeout: float = field(default=15.0, metadata={"minimum": 0.01, "expects": "seconds, e.g. 15"})
    # Jira Cloud limits writes per issue: at least this many seconds between two writes to one issue (0: none).
    jira_issue_write_interval: float = field(default=0.5, metadata={
        "minimum": 0, "expects": "seconds between two writes to one Jira issue, e.g. 0.5 (0 turns pacing off)"})


SECTIONS = (CoreSettings, CommsSettings, OutboxSettings, *(platform.settings for platform in PLATFORMS.values()))


@dataclass(frozen=True, repr=False)
class Settings(*reversed(SECTIONS)):    # reversed: a dataclass takes its bases' fields last base first
    """Every setting, one field per ESCALATOR_* variable (see the module docstring)."""

    @property
    def database(self) -> str:
        """The database URL; the embedded default is SQLite in the data directory."""
        return self.database_url or f"sqlite:///{os.path.abspath(self.data_dir)}/escalator.db"

    @property
    def body_limit(self) -> int:
        return self.max_body_bytes

    @property
    def comms(self) -> CommsSettings:
        return self.section(CommsSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Every ESCALATOR_* variable; `overrides` (e.g. a command-line option) win unless None or ""."""
        environ = os.environ if environ is None else environ
        values = {f.name: raw for f in fields(cls) if (raw := environ.get(variable(f.name), "").strip())}
        values.update({k: v for k, v in overrides.items() if v is not None and v != ""})
        return cls(**values)


# -- reading values ---------------------------------------------------------------------------------

@cache
def _hints(cls: type) -> dict:
    return get_type_hints(cls)


def _read(f, kind, value):
    """The field's value in its type, checked; ValueError with the message if it is unusable."""
    name, meta = variable(f.name), f.metadata
    if kind is bool:
        value = flag(name, value)
    elif kind is int or kind is float:
        value = _number(name, value, kind, meta.get("expects"), meta.get("minimum", 1))
    elif kind == Mapping[str, str]:
        value = url_map(name, value)
    elif value and meta.get("schemes"):
        _check_url(name, value, meta["schemes"], meta.get("expects"), shown=shown_value(f, value))
    if value and "parse" in meta:
        value = meta["parse"](name, value)
    return value


def flag(name: str, value: object) -> bool:
    """1/true/yes/on or 0/false/no/off, in any case."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in TRUE + FALSE:
        raise ValueError(f"{name} must be {', '.join(TRUE[:-1])} or {TRUE[-1]} to turn it on, or "
                         f"{', '.join(FALSE[:-1])} or {FALSE[-1]}; got {str(value)[:40]!r}")
    return word in TRUE


def _number(name: str, value: object, kind: type, expects: str | None, minimum: int = 1):
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else _parse_number(value, kind)
    if number is None or not math.isfinite(number) or number < minimum or (minimum and number <= 0):
        what = expects or ("a whole number above 0" if kind is int else "a number above 0")
        raise ValueError(f"{name} must be {what}; got {str(value)[:40]!r}")
    return kind(number)


def _parse_number(value: object, kind: type) -> int | float | None:
    try:
        return kind(str(value).strip())
    except ValueError:
        return None


def url_map(name: str, value: object) -> dict[str, str]:
    """A JSON object of names to http(s) URLs; the message never shows a URL, which is a credential."""
    # Raised outside the except block: the decode error holds the raw text, webhook secrets included.
    if isinstance(value, str):
        try:
            value, problem = json.loads(value), ""
        except json.JSONDecodeError as exc:
            problem = exc.msg
        if problem:
            raise ValueError(f'{name} is not JSON ({problem}); write {{"#channel": "https://..."}}')
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f'{name} must be a JSON object of names to URLs, e.g. {{"#channel": "https://..."}}')
    bad = sorted(str(k) for k, v in value.items() if not v.strip().startswith(("https://", "http://")))
    if bad:
        raise ValueError(f"{name}: the URL for {', '.join(bad)} does not start with https://")
    return {str(k).strip(): v.strip() for k, v in value.items()}


def _check_url(name: str, value: str, schemes: tuple[str, ...], expects: str | None, shown: str) -> None:
    parts = urlsplit(value)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        what = expects or f"a {' or '.join(schemes)} URL"
        raise ValueError(f"{name} must be {what}; got {shown!r}")


# -- showing values ---------------------------------------------------------------------------------

def shown_value(f, value):
    """The value as repr and error messages may show it."""
    if f.metadata.get("secret"):
        return MASK if value else value
    kind = f.metadata.get("url")
    if kind == "credential":
        from plugin.comms._http import redact_url

        return {k: redact_url(v) for k, v in value.items()} if isinstance(value, Mapping) else \
            redact_url(value) if value else value
    return mask_password(value) if kind == "password" else value


def mask_password(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:********@host/db; ?password=... likewise."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{MASK}@{host}"
    query = "&".join(_masked_parameter(p) for p in parts.query.split("&")) if parts.query else ""
    if (netloc, query) == (parts.netloc, parts.query):
        return url      # nothing to hide; and urlunsplit would drop a slash of sqlite:////absolute/path
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _masked_parameter(parameter: str) -> str:
    key, equals, _ = parameter.partition("=")
    return f"{key}={MASK}" if equals and any(w in key.lower() for w in _SECRET_QUERY) else parameter
