"""Channel settings from ESCALATOR_* variables; an empty value is unset, and repr never shows a secret.

ESCALATOR_SLACK_WEBHOOKS     JSON {"#channel": "https://hooks.slack.com/services/..."}
ESCALATOR_TEAMS_WEBHOOKS     JSON {"name": "https://...workflow or incoming-webhook URL"}
ESCALATOR_SMTP_URL           smtp://user:password@host:587?starttls=1, or smtps://host:465
ESCALATOR_SMTP_FROM          Escalator <escalator@example.com>
ESCALATOR_STATUSPAGE_URL     a generic status-page webhook, sent {"incident": {...}}
ESCALATOR_STATUSPAGE_API_KEY and ESCALATOR_STATUSPAGE_PAGE_ID  Atlassian Statuspage instead
ESCALATOR_WEBHOOK_URL        the generic JSON webhook; ESCALATOR_WEBHOOK_SECRET signs its bodies
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from plugin.domain.errors import EscalatorError

from ._http import redact_url

_MAPS = ("slack_webhooks", "teams_webhooks")
_SECRETS = ("statuspage_api_key", "webhook_secret")
_URLS = ("smtp_url", "statuspage_url", "webhook_url")


class CommsConfigError(EscalatorError):
    """A channel setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class CommsSettings:
    slack_webhooks: Mapping[str, str] = field(default_factory=dict)
    teams_webhooks: Mapping[str, str] = field(default_factory=dict)
    smtp_url: str = ""
    smtp_from: str = ""
    statuspage_url: str = ""
    statuspage_api_key: str = ""
    statuspage_page_id: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CommsSettings:
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            name = f"ESCALATOR_{f.name.upper()}"
            raw = environ.get(name, "").strip()
            if raw:
                values[f.name] = parse_mapping(name, raw) if f.name in _MAPS else raw
        return cls(**values)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _MAPS:
                value = {k: redact_url(v) for k, v in value.items()}
            elif f.name in _SECRETS and value:
                value = "********"
            elif f.name in _URLS and value:
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"CommsSettings({', '.join(shown)})"

    __str__ = __repr__


def parse_mapping(name: str, raw: str) -> dict[str, str]:
    """A JSON object of names to https URLs, or CommsConfigError saying what is wrong with it."""
    # Raised outside the except block: the decode error holds the raw text, webhook secrets included.
    try:
        data, problem = json.loads(raw), ""
    except json.JSONDecodeError as exc:
        data, problem = None, exc.msg
    if problem:
        raise CommsConfigError(f'{name} is not JSON ({problem}); write {{"#channel": "https://..."}}')
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CommsConfigError(f'{name} must be a JSON object of names to URLs, e.g. {{"#channel": "https://..."}}')
    bad = sorted(k for k, v in data.items() if not v.startswith(("https://", "http://")))
    if bad:
        raise CommsConfigError(f"{name}: the URL for {', '.join(bad)} does not start with https://")
    return {str(k).strip(): v.strip() for k, v in data.items()}
