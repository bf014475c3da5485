"""One settings object, read from ESCALATOR_* environment variables (an empty value is unset)."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

SECRET_FIELDS = {"jira_api_token", "zendesk_api_token", "jira_webhook_secret", "zendesk_webhook_secret",
                 "jira_automation_secret", "api_token"}


@dataclass(frozen=True)
class Settings:
    rules: str = "rules"
    engine: str = "durable"
    data_dir: str = "data"
    database_url: str = ""
    queue_url: str = ""
    jira_base_url: str = ""
    jira_email: str = ""
    jira_api_token: str = ""
    zendesk_subdomain: str = ""
    zendesk_base_url: str = ""
    zendesk_email: str = ""
    zendesk_api_token: str = ""
    jira_webhook_secret: str = ""
    zendesk_webhook_secret: str = ""
    jira_automation_secret: str = ""
    api_token: str = ""
    jira_bot_account_id: str = ""
    zendesk_bot_user_id: str = ""
    jira_service_desk: str = ""
    max_body_bytes: str = "1048576"
    zendesk_max_age: str = "300"

    @property
    def database(self) -> str:
        """The database URL; the embedded default is SQLite in the data directory."""
        return self.database_url or f"sqlite:///{os.path.abspath(self.data_dir)}/escalator.db"

    @property
    def body_limit(self) -> int:
        return int(self.max_body_bytes)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> Settings:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            value = environ.get(f"ESCALATOR_{f.name.upper()}", "").strip()
            if value:
                values[f.name] = value
        values.update({k: v for k, v in overrides.items() if v})
        return cls(**values)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "********"
            elif f.name == "database_url" or f.name == "queue_url":
                value = mask_password(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__


def mask_password(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:********@host/db"""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:********@{host}"
