"""Settings come from ESCALATOR_* variables, and secrets never show when printed."""
from plugin.settings import Settings


def test_settings_are_read_from_the_environment_and_empty_means_unset():
    settings = Settings.from_env({"ESCALATOR_ENGINE": "python", "ESCALATOR_RULES": "", "ESCALATOR_API_TOKEN": " t "})
    assert settings.engine == "python"
    assert settings.rules == "rules"
    assert settings.api_token == "t"


def test_the_embedded_default_database_is_sqlite_in_the_data_directory():
    assert Settings(data_dir="/srv/escalator").database == "sqlite:////srv/escalator/escalator.db"
    assert Settings(database_url="postgresql+psycopg://db/x").database == "postgresql+psycopg://db/x"


def test_secrets_are_masked_in_every_printed_form():
    settings = Settings(jira_api_token="jira-secret-1", zendesk_api_token="zd-secret-2",
                        jira_webhook_secret="hook-3", zendesk_webhook_secret="hook-4",
                        jira_automation_secret="auto-5", api_token="api-6",
                        database_url="postgresql+psycopg://escalator:db-pass-7@db/escalator")
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        for secret in ("jira-secret-1", "zd-secret-2", "hook-3", "hook-4", "auto-5", "api-6", "db-pass-7"):
            assert secret not in text
    assert "postgresql+psycopg://escalator:********@db/escalator" in repr(settings)
