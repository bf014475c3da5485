"""Settings come from ESCALATOR_* variables as typed values, a bad one is named, and secrets never show."""
from dataclasses import fields

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.comms import CommsSettings
from plugin.domain.errors import EscalatorError
from plugin.settings import Settings, SettingsError


def test_settings_are_read_from_the_environment_and_empty_means_unset():
    settings = Settings.from_env({"ESCALATOR_ENGINE": "python", "ESCALATOR_RULES": "", "ESCALATOR_API_TOKEN": " t "})
    assert settings.engine == "python"
    assert settings.rules == "rules"
    assert settings.api_token == "t"


def test_the_embedded_default_database_is_sqlite_in_the_data_directory():
    assert Settings(data_dir="/srv/escalator").database == "sqlite:////srv/escalator/escalator.db"
    assert Settings(database_url="postgresql+psycopg://db/x").database == "postgresql+psycopg://db/x"


def test_an_option_given_on_the_command_line_wins_over_the_environment_unless_it_is_unset():
    environ = {"ESCALATOR_ENGINE": "python"}
    assert Settings.from_env(environ, engine="durable").engine == "durable"
    assert Settings.from_env(environ, engine=None).engine == "python"


# -- types ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variable, text, name, expected", [
    *[("ESCALATOR_JIRA_SERVICE_DESK", on, "jira_service_desk", True) for on in ("1", "true", "yes", "on", "On")],
    *[("ESCALATOR_JIRA_SERVICE_DESK", off, "jira_service_desk", False) for off in ("0", "false", "no", "off", "OFF")],
    ("ESCALATOR_MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
    ("ESCALATOR_MAX_BODY_BYTES", " 65536 ", "max_body_bytes", 65536),
    ("ESCALATOR_ZENDESK_MAX_AGE", "90", "zendesk_max_age", 90.0),
    ("ESCALATOR_ZENDESK_MAX_AGE", "2.5", "zendesk_max_age", 2.5),
    ("ESCALATOR_SLACK_WEBHOOKS", '{" #ops ": " https://hooks.slack.com/services/T/B/x "}', "slack_webhooks",
     {"#ops": "https://hooks.slack.com/services/T/B/x"}),
    ("ESCALATOR_TEAMS_WEBHOOKS", '{"sre": "https://acme.webhook.office.com/x"}', "teams_webhooks",
     {"sre": "https://acme.webhook.office.com/x"}),
    ("ESCALATOR_ZENDESK_SUBDOMAIN", "acme-eu", "zendesk_subdomain", "acme-eu"),
])
def test_each_variable_is_read_as_its_type(variable, text, name, expected):
    value = getattr(Settings.from_env({variable: text}), name)
    assert value == expected and type(value) is type(expected)


def test_unset_values_have_typed_defaults():
    settings = Settings.from_env({})
    assert (settings.jira_service_desk, settings.max_body_bytes, settings.zendesk_max_age) == (False, 1048576, 300.0)
    assert settings.slack_webhooks == {} and settings.body_limit == 1048576


def test_values_given_as_text_in_code_are_read_the_same_way():
    assert Settings(max_body_bytes="1000", jira_service_desk="yes", zendesk_max_age="60") == \
        Settings(max_body_bytes=1000, jira_service_desk=True, zendesk_max_age=60.0)


# -- bad values -------------------------------------------------------------------------------------

BYTES, SECONDS = "a number of bytes above 0, e.g. 1048576", "a number of seconds above 0, e.g. 300"


@pytest.mark.parametrize("variable, text, message", [
    ("ESCALATOR_JIRA_SERVICE_DESK", "maybe",
     "ESCALATOR_JIRA_SERVICE_DESK must be 1, true, yes or on to turn it on, or 0, false, no or off; got 'maybe'"),
    ("ESCALATOR_MAX_BODY_BYTES", "1MB", f"ESCALATOR_MAX_BODY_BYTES must be {BYTES}; got '1MB'"),
    ("ESCALATOR_MAX_BODY_BYTES", "0", f"ESCALATOR_MAX_BODY_BYTES must be {BYTES}; got '0'"),
    ("ESCALATOR_ZENDESK_MAX_AGE", "5m", f"ESCALATOR_ZENDESK_MAX_AGE must be {SECONDS}; got '5m'"),
    ("ESCALATOR_ZENDESK_MAX_AGE", "nan", f"ESCALATOR_ZENDESK_MAX_AGE must be {SECONDS}; got 'nan'"),
    ("ESCALATOR_ZENDESK_MAX_AGE", "-1", f"ESCALATOR_ZENDESK_MAX_AGE must be {SECONDS}; got '-1'"),
    ("ESCALATOR_ENGINE", "drools", "ESCALATOR_ENGINE must be one of durable, python; got 'drools'"),
    ("ESCALATOR_ZENDESK_SUBDOMAIN", "acme.zendesk.com",
     "ESCALATOR_ZENDESK_SUBDOMAIN must be the subdomain alone, e.g. acme for acme.zendesk.com; got 'acme.zendesk.com'"),
    ("ESCALATOR_JIRA_BASE_URL", "acme.atlassian.net",
     "ESCALATOR_JIRA_BASE_URL must be the site's URL, like https://<your-site>.atlassian.net; got "
     "'acme.atlassian.net'"),
    ("ESCALATOR_ZENDESK_BASE_URL", "ftp://help.acme.com",
     "ESCALATOR_ZENDESK_BASE_URL must be the account's URL, like https://acme.zendesk.com; got 'ftp://help.acme.com'"),
    ("ESCALATOR_STATUSPAGE_URL", "status.acme.com", "ESCALATOR_STATUSPAGE_URL must be a https or http URL; got"),
    ("ESCALATOR_WEBHOOK_URL", "hooks.acme.com/in", "ESCALATOR_WEBHOOK_URL must be a https or http URL; got"),
    ("ESCALATOR_SMTP_URL", "mail.acme.com:587", "ESCALATOR_SMTP_URL must look like smtp://user:password@host:587"),
    ("ESCALATOR_SLACK_WEBHOOKS", "https://hooks.slack.com/services/T/B/x", "ESCALATOR_SLACK_WEBHOOKS is not JSON"),
    ("ESCALATOR_TEAMS_WEBHOOKS", '["https://acme.webhook.office.com/x"]',
     "ESCALATOR_TEAMS_WEBHOOKS must be a JSON object of names to URLs"),
])
def test_a_bad_value_is_one_settings_error_naming_the_variable_and_what_it_expects(variable, text, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: text})
    assert str(caught.value).startswith(message)
    assert caught.value.problems == [str(caught.value)] and caught.value.__context__ is None
    assert isinstance(caught.value, EscalatorError)


def test_every_bad_value_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"ESCALATOR_MAX_BODY_BYTES": "big", "ESCALATOR_JIRA_SERVICE_DESK": "sometimes",
                           "ESCALATOR_ENGINE": "python"})
    assert sorted(p.split()[0] for p in caught.value.problems) == ["ESCALATOR_JIRA_SERVICE_DESK",
                                                                    "ESCALATOR_MAX_BODY_BYTES"]


@pytest.mark.parametrize("variable, text, hidden", [
    ("ESCALATOR_JIRA_BASE_URL", "ftp://bot:url-pass-1@acme.atlassian.net", "url-pass-1"),
    ("ESCALATOR_WEBHOOK_URL", "ftp://hooks.acme.com/in/hook-token-2", "hook-token-2"),
    ("ESCALATOR_SLACK_WEBHOOKS", '{"#a": "hooks.slack.com/services/T/B/slack-token-3"}', "slack-token-3"),
])
def test_a_bad_value_is_named_without_showing_its_credential(variable, text, hidden):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: text})
    assert hidden not in str(caught.value)


@pytest.mark.parametrize("args", [["serve"], ["worker"], ["db", "current"], ["check", "rules"]])
def test_commands_print_a_bad_setting_and_exit_2_without_a_traceback(args):
    result = CliRunner().invoke(main, args, env={"ESCALATOR_MAX_BODY_BYTES": "[lots]"})
    assert result.exit_code == 2, result.output
    assert "error: ESCALATOR_MAX_BODY_BYTES must be a number of bytes above 0" in result.output
    assert "[lots]" in result.output and "Traceback" not in result.output


# -- what is shown ----------------------------------------------------------------------------------

SECRETS = {
    "api_token": "api-secret-1", "jira_api_token": "jira-secret-2", "zendesk_api_token": "zd-secret-3",
    "jira_webhook_secret": "hook-secret-4", "zendesk_webhook_secret": "hook-secret-5",
    "jira_automation_secret": "auto-secret-6", "statuspage_api_key": "sp-secret-7", "webhook_secret": "wh-secret-8",
}
# field: (value, as shown); every value's credential contains "hidden"
URLS = {
    "database_url": ("postgresql+psycopg://escalator:hidden-1@db/escalator",
                     "postgresql+psycopg://escalator:********@db/escalator"),
    "smtp_url": ("smtp://bot:hidden-3@mail.example.com:587?starttls=1",
                 "smtp://bot:********@mail.example.com:587?starttls=1"),
    "jira_base_url": ("https://bot:hidden-4@acme.atlassian.net", "https://bot:********@acme.atlassian.net"),
    "zendesk_base_url": ("https://bot:hidden-5@help.acme.com", "https://bot:********@help.acme.com"),
    "statuspage_url": ("https://status.acme.com/hooks/hidden-6", "https://status.acme.com/hooks/****"),
    "webhook_url": ("https://hooks.acme.com/in/hidden-7?sig=hidden-8", "https://hooks.acme.com/in/****?****"),
    "slack_webhooks": ({"#ops": "https://hooks.slack.com/services/T0/B0/hidden-9"},
                       {"#ops": "https://hooks.slack.com/services/****"}),
    "teams_webhooks": ({"sre": "https://acme.webhook.office.com/webhookb2/hidden-10"},
                       {"sre": "https://acme.webhook.office.com/webhookb2/****"}),
}
SHOWN = {**{name: (value.replace("secret", "hidden"), "********") for name, value in SECRETS.items()}, **URLS}


@pytest.mark.parametrize("name", sorted(SHOWN))
def test_repr_never_shows_a_secret(name):
    value, shown = SHOWN[name]
    settings = Settings(**{name: value})
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert f"{name}={shown!r}" in text and "hidden" not in text


def test_every_field_that_holds_a_credential_is_masked():
    credentials = {f.name for f in fields(Settings) if f.name.endswith(("_token", "_secret", "_key", "_password"))}
    assert credentials == set(SECRETS)
    for f in fields(Settings):
        if f.name.endswith("_url") or f.name.endswith("_webhooks"):
            assert f.metadata.get("url") in ("password", "credential"), f.name


def test_a_password_in_a_url_query_is_masked_too():
    settings = Settings(database_url="postgresql+psycopg://db/escalator?user=x&password=db-pass&sslmode=require")
    assert "database_url='postgresql+psycopg://db/escalator?user=x&password=********&sslmode=require'" in repr(settings)


def test_unset_secrets_show_as_empty_so_a_missing_one_is_visible():
    assert "api_token=''" in repr(Settings())


# -- the channels -----------------------------------------------------------------------------------

def test_the_channel_settings_come_from_the_environment_with_the_rest():
    environ = {
        "ESCALATOR_SLACK_WEBHOOKS": '{"#ops": "https://hooks.slack.com/services/T/B/x"}',
        "ESCALATOR_TEAMS_WEBHOOKS": '{"sre": "https://acme.webhook.office.com/y"}',
        "ESCALATOR_SMTP_URL": "smtps://bot:pw@mail.example.com:465", "ESCALATOR_SMTP_FROM": "Escalator <e@example.com>",
        "ESCALATOR_STATUSPAGE_URL": "https://status.example.com/hook", "ESCALATOR_STATUSPAGE_API_KEY": "k",
        "ESCALATOR_STATUSPAGE_PAGE_ID": "p1", "ESCALATOR_WEBHOOK_URL": "https://hooks.example.com/in",
        "ESCALATOR_WEBHOOK_SECRET": "s", "ESCALATOR_ENGINE": "python",
    }
    comms = Settings.from_env(environ).comms
    assert comms == CommsSettings(
        slack_webhooks={"#ops": "https://hooks.slack.com/services/T/B/x"},
        teams_webhooks={"sre": "https://acme.webhook.office.com/y"},
        smtp_url="smtps://bot:pw@mail.example.com:465", smtp_from="Escalator <e@example.com>",
        statuspage_url="https://status.example.com/hook", statuspage_api_key="k", statuspage_page_id="p1",
        webhook_url="https://hooks.example.com/in", webhook_secret="s")
    assert CommsSettings.from_env(environ) == comms
    assert "pw" not in repr(comms) and "api_key='********'" in repr(comms)


def test_a_database_url_with_nothing_secret_is_shown_as_it_is():
    from plugin.settings import mask_password
    assert mask_password("sqlite:////var/lib/escalator/escalator.db") == "sqlite:////var/lib/escalator/escalator.db"
    assert mask_password("postgresql+psycopg://app:s3cret@db/escalator") == "postgresql+psycopg://app:********@db/escalator"
