"""Log lines as operators search them: JSON objects carrying the delivery, platform, ticket and outbox row."""
import base64
import io
import json
import logging
import os
import subprocess
import time

import pytest
import requests

from plugin import logs
from plugin.platforms.jira import sign_jira
from plugin.settings import Settings, SettingsError

from .conftest import RULES
from .test_serve import ESCALATOR, free_port
from .test_webhooks import outage_payload, post_jira

SECRETS = {"ESCALATOR_JIRA_WEBHOOK_SECRET": "hook-secret-7f3a", "ESCALATOR_JIRA_API_TOKEN": "jira-token-91c2",
           "ESCALATOR_API_TOKEN": "api-token-5d0e"}


@pytest.fixture
def json_logs():
    """This process logging JSON, as `configure` sets it up, into a buffer; the lines written so far, parsed."""
    logs.configure(Settings(log_format="json"))
    root = logging.getLogger()
    (ours,) = [h for h in root.handlers if getattr(h, "escalator", False)]
    buffer = io.StringIO()
    ours.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    for handler in [h for h in root.handlers if getattr(h, "escalator", False)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def test_a_delivery_is_logged_as_one_json_line_with_its_id_and_ticket(make_app, json_logs):
    client = make_app(jira_webhook_secret="s").test_client()
    answer = post_jira(client, outage_payload("SUP-9"), secret="s")
    line = next(line for line in json_logs() if line["logger"] == "plugin.webhooks.views")
    assert line["delivery"] == answer.json["delivery"] and line["ticket"] == "SUP-9" and line["platform"] == "jira"
    assert line["level"] == "info" and line["message"] == f"delivery {answer.json['delivery']} accepted for jira/SUP-9"
    assert set(line) >= {"time", "level", "logger", "message"}


def test_a_refused_signature_is_logged_with_its_reason_and_never_the_secret(make_app, json_logs):
    client = make_app(jira_webhook_secret="hook-secret").test_client()
    assert post_jira(client, outage_payload(), secret="wrong").status_code == 401
    (line,) = [line for line in json_logs() if line["logger"] == "plugin.webhooks.views"]
    assert line["level"] == "warning" and line["message"] == "refused a jira delivery: signature mismatch"
    assert "hook-secret" not in json.dumps(line)


def test_context_fields_appear_only_when_known():
    record = logging.LogRecord("plugin.outbox", logging.WARNING, __file__, 1, "dead %s", ("x",), None)
    record.__dict__.update(logs.context(outbox=4, platform="jira", ticket="SUP-1"))
    line = json.loads(logs.JsonFormatter().format(record))
    assert {k: line[k] for k in ("outbox", "platform", "ticket", "message")} == \
        {"outbox": 4, "platform": "jira", "ticket": "SUP-1", "message": "dead x"}
    assert "delivery" not in line


def test_configure_replaces_its_handler_instead_of_adding_one(json_logs):
    logs.configure(Settings(log_format="text"))
    ours = [h for h in logging.getLogger().handlers if getattr(h, "escalator", False)]
    assert len(ours) == 1 and not isinstance(ours[0].formatter, logs.JsonFormatter)


def test_an_unknown_log_format_is_refused_by_name():
    with pytest.raises(SettingsError, match="ESCALATOR_LOG_FORMAT must be text or json; got 'xml'"):
        Settings.from_env({"ESCALATOR_LOG_FORMAT": "xml"})


def test_a_full_request_cycle_under_serve_logs_json_and_no_secret(tmp_path, httpserver):
    httpserver.expect_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_json(
        {"errorMessages": ["no permission"]}, status=403)     # a dead write-back: logged with its outbox row
    process, base, out, err = start_serve(tmp_path, ESCALATOR_LOG_FORMAT="json", ESCALATOR_JIRA_EMAIL="bot@example.com",
                                          ESCALATOR_JIRA_BASE_URL=httpserver.url_for("/").rstrip("/"), **SECRETS)
    try:
        body = json.dumps(outage_payload()).encode()
        answer = requests.post(base + "/webhooks/jira", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": "log-1",
            "X-Hub-Signature": sign_jira(body, SECRETS["ESCALATOR_JIRA_WEBHOOK_SECRET"])})
        assert answer.status_code == 202
        requests.get(base + "/healthz?token=query-secret-40b1", timeout=10)    # a query string is never logged
        lines = wait_for_line(err, lambda line: line.get("logger") == "plugin.outbox")
    finally:
        stop(process)
    delivery = next(line for line in lines if line.get("delivery") == answer.json()["delivery"])
    assert delivery["ticket"] == "SUP-7"
    dead = next(line for line in lines if line["logger"] == "plugin.outbox")
    assert dead["ticket"] == "SUP-7" and isinstance(dead["outbox"], int)
    # gunicorn writes its access log to stdout, beside what serve prints for the admin at start.
    access = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    assert {"logger": "gunicorn.access", "method": "POST", "path": "/webhooks/jira", "status": "202"}.items() \
        <= next(line for line in access if line["method"] == "POST").items()
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    basic = base64.b64encode(f"bot@example.com:{SECRETS['ESCALATOR_JIRA_API_TOKEN']}".encode()).decode()
    everything = out.read_text() + err.read_text()
    for secret in [*SECRETS.values(), basic, "query-secret-40b1"]:
        assert secret not in everything


# -- a real serve, its stdout and stderr kept apart --------------------------------------------------

def start_serve(tmp_path, *args, **env):
    """`escalator serve` on a free port, answering /healthz; (process, base URL, stdout file, stderr file)."""
    port = free_port()
    out, err = tmp_path / f"serve-{port}.out", tmp_path / f"serve-{port}.err"
    environment = {**os.environ, "ESCALATOR_RULES": str(RULES), "ESCALATOR_DATA_DIR": str(tmp_path / "data"), **env}
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen([ESCALATOR, "serve", "--port", str(port), *args], env=environment,
                                   stdout=stdout, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base, out, err
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    stop(process)
    pytest.fail(f"serve did not start: {err.read_text()}")


def stop(process) -> int:
    process.terminate()
    return process.wait(timeout=30)


def wait_for_line(err, wanted, seconds: float = 15) -> list[dict]:
    """Every line of `err`, parsed (each must be JSON), once one satisfies `wanted`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in err.read_text().splitlines() if line]
        if any(wanted(line) for line in lines):
            return lines
        time.sleep(0.2)
    pytest.fail(f"no such log line within {seconds} s:\n{err.read_text()}")
