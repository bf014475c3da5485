"""Channel senders against real local servers: the exact JSON each webhook gets, real SMTP, and failure classes."""
import email
import email.policy
import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from plugin.comms import CommsConfigError, CommsSettings, build_senders, messages_for, ticket_action
from plugin.comms._http import DeliveryError, Poster, redact_url
from plugin.comms.channels import (
    GenericWebhookSender,
    Message,
    SlackSender,
    StatusPageSender,
    TeamsSender,
    slack_escape,
)
from plugin.comms.recipients import Recipient
from plugin.comms.smtp import EmailSender, SmtpTarget
from plugin.domain.actions import NOTE, Action
from plugin.domain.errors import RemoteActionError
from plugin.writeback import WriteBackError

NOW = datetime(2026, 11, 29, 10, 15, tzinfo=UTC)
TEXT = "SUP-1 escalated to L2 — severity critical\n\nCheckout is down\nOwner: Payments engineering\n"
SECRET_PATH = "/services/T000/B000/s3cr3tT0ken"


def message(channel="slack", to=("#support-escalations",), text=TEXT, **meta) -> Message:
    fields = {"platform": "jira", "ticket": "SUP-1", "url": "https://example.atlassian.net/browse/SUP-1",
              "level": "L2", "severity": "critical", "situation": "escalated"} | meta
    return Message(channel, text, tuple(to), **fields)


def poster() -> Poster:
    return Poster(timeout=(0.5, 0.5), now=lambda: NOW)


# -- Slack --------------------------------------------------------------------------------------

def test_slack_posts_the_text_to_the_channels_configured_webhook(httpserver):
    httpserver.expect_oneshot_request(SECRET_PATH, method="POST", json={"text": TEXT.strip()}).respond_with_data("ok")
    slack = SlackSender({"#support-escalations": httpserver.url_for(SECRET_PATH)}, poster())

    delivery = slack.send(message())

    httpserver.check_assertions()
    assert delivery.status == 200
    assert "s3cr3tT0ken" not in json.dumps(delivery.request)


def test_slack_text_cannot_ping_a_channel_or_hide_a_link():
    assert slack_escape("<!channel> see <https://evil.example|docs> & more") == \
        "&lt;!channel&gt; see &lt;https://evil.example|docs&gt; &amp; more"


def test_a_party_may_give_a_slack_webhook_url_instead_of_a_channel_name():
    url = "https://hooks.slack.com/services/T1/B1/abc"

    request = SlackSender({}).build_request(message(to=(url,)))

    assert request == {"method": "POST", "url": "https://hooks.slack.com/services/****", "headers": {},
                       "json": {"text": TEXT.strip()}}


def test_an_unmapped_slack_channel_is_described_for_dry_run_and_refused_on_send():
    slack = SlackSender({})

    assert slack.build_request(message())["url"] == \
        "no webhook configured for '#support-escalations'; add it to ESCALATOR_SLACK_WEBHOOKS"
    with pytest.raises(DeliveryError) as caught:
        slack.send(message())
    assert caught.value.retryable is False


# -- Microsoft Teams ----------------------------------------------------------------------------

def test_teams_gets_an_adaptive_card_with_the_title_and_the_body(httpserver):
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": [
                {"type": "TextBlock", "text": "SUP-1 escalated to L2 — severity critical", "weight": "Bolder",
                 "size": "Medium", "wrap": True},
                {"type": "TextBlock", "text": "Checkout is down\nOwner: Payments engineering", "wrap": True}]}
    expected = {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
    httpserver.expect_oneshot_request("/workflows/abc/triggers/manual/paths/invoke", method="POST",
                                      json=expected).respond_with_data("", status=202)
    teams = TeamsSender({"support": httpserver.url_for("/workflows/abc/triggers/manual/paths/invoke?sig=x")},
                        poster())

    assert teams.send(message("teams", to=("support",))).status == 202
    httpserver.check_assertions()


# -- status page --------------------------------------------------------------------------------

@pytest.mark.parametrize("situation, severity, status, impact", [
    ("escalated", "critical", "investigating", "critical"),
    ("update", "high", "investigating", "major"),
    ("resolved", "normal", "resolved", "minor"),
    ("escalated", "custom", "investigating", "minor"),
])
def test_a_generic_status_page_webhook_gets_an_incident(httpserver, situation, severity, status, impact):
    expected = {"incident": {"name": "SUP-1 escalated to L2 — severity critical", "status": status,
                             "body": "Checkout is down\nOwner: Payments engineering", "impact": impact}}
    httpserver.expect_oneshot_request("/hooks/status", method="POST", json=expected).respond_with_json({})
    sender = StatusPageSender(httpserver.url_for("/hooks/status"), poster=poster())

    sender.send(message("statuspage", to=("statuspage",), situation=situation, severity=severity))

    httpserver.check_assertions()


def test_atlassian_statuspage_gets_its_incident_api_with_an_oauth_key(httpserver):
    expected = {"incident": {"name": "SUP-1 escalated to L2 — severity critical", "status": "investigating",
                             "body": "Checkout is down\nOwner: Payments engineering", "impact_override": "critical"}}
    httpserver.expect_oneshot_request("/v1/pages/pg123/incidents", method="POST", json=expected,
                                      headers={"Authorization": "OAuth sp-key"}).respond_with_json({"id": "i1"}, 201)
    sender = StatusPageSender(api_key="sp-key", page_id="pg123", api_base=httpserver.url_for(""), poster=poster())

    delivery = sender.send(message("statuspage", to=("statuspage",)))

    httpserver.check_assertions()
    assert delivery.status == 201
    assert delivery.request["headers"] == {"Authorization": "OAuth ********"}


def test_statuspage_without_settings_says_which_variables_to_set():
    request = StatusPageSender().build_request(message("statuspage", to=("statuspage",)))

    assert request["url"] == ("set ESCALATOR_STATUSPAGE_URL, or ESCALATOR_STATUSPAGE_API_KEY and "
                              "ESCALATOR_STATUSPAGE_PAGE_ID")


# -- generic webhook ----------------------------------------------------------------------------

def test_the_generic_webhook_gets_the_ticket_the_situation_and_a_signature(httpserver):
    expected = {"ticket": {"platform": "jira", "key": "SUP-1", "url": "https://example.atlassian.net/browse/SUP-1"},
                "level": "L2", "severity": "critical", "situation": "escalated", "text": TEXT.strip()}
    httpserver.expect_oneshot_request("/hook", method="POST", json=expected).respond_with_data("", status=204)
    sender = GenericWebhookSender(httpserver.url_for("/hook"), secret="whsec", poster=poster())

    sender.send(message("webhook", to=("webhook",)))

    request, _ = httpserver.log[0]
    digest = hmac.new(b"whsec", request.get_data(), hashlib.sha256).hexdigest()
    assert request.headers["X-Escalator-Signature"] == f"sha256={digest}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"


# -- failures -----------------------------------------------------------------------------------

ANSWERS = {
    "429 with Retry-After": (429, {"Retry-After": "7"}, True, 7.0),
    "503 with an HTTP-date": (503, {"Retry-After": "Sun, 29 Nov 2026 10:17:00 GMT"}, True, 120.0),
    "420 from Statuspage": (420, {"Retry-After": "1"}, True, 1.0),
    "500": (500, {}, True, None),
    "400 invalid_payload": (400, {}, False, None),
    "404 no_service": (404, {}, False, None),
    "410 channel_is_archived": (410, {}, False, None),
}


@pytest.mark.parametrize("status, headers, retryable, retry_after", ANSWERS.values(), ids=ANSWERS.keys())
def test_webhook_answers_are_classified_for_retries(httpserver, status, headers, retryable, retry_after):
    httpserver.expect_request(SECRET_PATH).respond_with_data("no_service", status=status, headers=headers)
    slack = SlackSender({"#support-escalations": httpserver.url_for(SECRET_PATH)}, poster())

    with pytest.raises(DeliveryError) as caught:
        slack.send(message())

    error = caught.value
    assert isinstance(error, WriteBackError) and isinstance(error, RemoteActionError)
    assert (error.retryable, error.retry_after, error.status) == (retryable, retry_after, status)
    assert "s3cr3tT0ken" not in str(error) and error.__context__ is None


def test_a_webhook_that_never_answers_is_a_retryable_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}{SECRET_PATH}"
        slack = SlackSender({"#support-escalations": url}, Poster(timeout=(0.5, 0.2)))

        with pytest.raises(DeliveryError) as caught:
            slack.send(message())

    assert caught.value.retryable is True
    assert "timed out" in str(caught.value) and "s3cr3tT0ken" not in str(caught.value)


@pytest.mark.parametrize("url, shown", [
    ("https://hooks.slack.com/services/T1/B1/abc", "https://hooks.slack.com/services/****"),
    ("https://prod.logic.azure.com:443/workflows/id/triggers?sig=abc", "https://prod.logic.azure.com:443/workflows/****?****"),
    ("https://user:pw@status.example.com/hook", "https://status.example.com/hook"),
    ("https://example.com", "https://example.com"),
])
def test_webhook_urls_are_shown_without_their_secret_part(url, shown):
    assert redact_url(url) == shown


# -- messages, ticket actions, settings ---------------------------------------------------------

def test_email_goes_as_one_message_and_chat_as_one_post_per_destination():
    recipients = [Recipient("a", "x", "a@example.com", True), Recipient("b", "x", "b@example.com", True),
                  Recipient("c", "x", "a@example.com", True)]

    emails = messages_for("email", TEXT, recipients, ticket="SUP-1")
    posts = messages_for("slack", TEXT, recipients, ticket="SUP-1")

    assert [m.to for m in emails] == [("a@example.com", "b@example.com")]
    assert [m.to for m in posts] == [("a@example.com",), ("b@example.com",)]


def test_a_message_survives_a_round_trip_through_json():
    original = message("email", to=("a@example.com", "b@example.com"))

    assert Message.from_dict(json.loads(json.dumps(original.as_dict()))) == original


@pytest.mark.parametrize("channel, public", [("ticket_comment", True), ("internal_note", False)])
def test_ticket_channels_become_write_back_notes(channel, public):
    action = ticket_action(message(channel, to=("jira:SUP-1",)), marker="escalator:SUP-1:escalated")

    assert action == Action("jira", "SUP-1", NOTE, {"body": TEXT.strip(), "public": public,
                                                    "marker": "escalator:SUP-1:escalated"})


def test_only_ticket_channels_become_write_back_notes():
    with pytest.raises(ValueError):
        ticket_action(message("slack"))


def test_settings_come_from_the_environment_and_never_show_a_secret():
    settings = CommsSettings.from_env({
        "ESCALATOR_SLACK_WEBHOOKS": '{"#support-escalations": "https://hooks.slack.com/services/T/B/slacksecret"}',
        "ESCALATOR_SMTP_URL": "smtp://bot:smtpsecret@mail.example.com:587?starttls=1",
        "ESCALATOR_SMTP_FROM": "Escalator <escalator@example.com>",
        "ESCALATOR_STATUSPAGE_API_KEY": "spsecret", "ESCALATOR_STATUSPAGE_PAGE_ID": "pg1",
        "ESCALATOR_WEBHOOK_URL": "https://hooks.example.com/in/hooksecret", "ESCALATOR_WEBHOOK_SECRET": "whsecret",
        "ESCALATOR_TEAMS_WEBHOOKS": " ",
    })

    assert settings.slack_webhooks == {"#support-escalations": "https://hooks.slack.com/services/T/B/slacksecret"}
    assert settings.teams_webhooks == {}
    for secret in ("slacksecret", "smtpsecret", "spsecret", "hooksecret", "whsecret"):
        assert secret not in repr(settings)
    assert sorted(build_senders(settings)) == ["email", "slack", "statuspage", "teams", "webhook"]


@pytest.mark.parametrize("raw, expected", [
    ('{"#a": "https://hooks.slack.com/services/T/B/leak"', "ESCALATOR_SLACK_WEBHOOKS is not JSON"),
    ('["https://hooks.slack.com/services/T/B/leak"]', "ESCALATOR_SLACK_WEBHOOKS must be a JSON object"),
    ('{"#a": "hooks.slack.com/services/T/B/leak"}', "ESCALATOR_SLACK_WEBHOOKS: the URL for #a does not start"),
])
def test_a_bad_webhook_map_names_the_variable_and_hides_the_urls(raw, expected):
    with pytest.raises(CommsConfigError) as caught:
        CommsSettings.from_env({"ESCALATOR_SLACK_WEBHOOKS": raw})

    assert str(caught.value).startswith(expected)
    assert "leak" not in str(caught.value) and caught.value.__context__ is None


# -- email over SMTP ----------------------------------------------------------------------------

class Inbox:
    """An aiosmtpd handler that keeps what it receives and answers as told."""

    def __init__(self, data_reply="250 OK", refuse=()):
        self.envelopes, self.data_reply, self.refuse = [], data_reply, set(refuse)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.data_reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """Starts a real SMTP server on 127.0.0.1; yields a function (handler, **controller options) -> port."""
    controllers = []

    def start(handler, **options) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


def sender_for(port: int, user: str = "") -> EmailSender:
    return EmailSender(f"smtp://{user}127.0.0.1:{port}", "Escalator <escalator@example.com>", timeout=5.0,
                       now=lambda: NOW)


def received(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def test_email_arrives_with_sender_recipients_subject_and_plain_text_body(smtp_server):
    inbox = Inbox()
    port = smtp_server(inbox)
    to = ("exec-escalations@example.com", "jordan.avery@example.com")

    delivery = sender_for(port).send(message("email", to=to))

    envelope = inbox.envelopes[0]
    mail = received(envelope)
    assert envelope.mail_from == "escalator@example.com"
    assert envelope.rcpt_tos == list(to)
    assert mail["From"] == "Escalator <escalator@example.com>"
    assert mail["To"] == "exec-escalations@example.com, jordan.avery@example.com"
    assert mail["Subject"] == "SUP-1 escalated to L2 — severity critical"
    assert mail["Date"] == "Sun, 29 Nov 2026 10:15:00 +0000"
    assert mail["Message-ID"].endswith("@example.com>")
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Escalator-Ticket"] == "jira:SUP-1"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content().replace("\r\n", "\n") == TEXT     # CRLF is how SMTP carries lines
    assert (delivery.status, delivery.refused) == (250, {})


def test_a_summary_with_a_line_break_cannot_add_a_header_or_a_recipient(smtp_server, shipped_matrix):
    from plugin.comms import message_context, render_message
    from tests.conftest import RULES

    context = message_context({"key": "SUP-1", "platform": "jira",
                               "summary": "Down\r\nBcc: evil@example.com\r\n\r\nInjected"},
                              shipped_matrix, severity="critical", level="L3", owner="vp-support", now=NOW)
    text = render_message(RULES / "templates", "exec_brief.md.j2", context)
    inbox = Inbox()
    port = smtp_server(inbox)

    sender_for(port).send(message("email", to=("exec-escalations@example.com",), text=text))

    envelope = inbox.envelopes[0]
    mail = received(envelope)
    assert envelope.rcpt_tos == ["exec-escalations@example.com"]
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Executive brief: SUP-1 — Down Bcc: evil@example.com Injected"
    assert b"\r\nBcc:" not in envelope.content.split(b"\r\n\r\n", 1)[0]


def test_a_line_break_in_the_first_line_of_a_hand_built_message_still_stays_out_of_the_headers(smtp_server):
    inbox = Inbox()
    port = smtp_server(inbox)

    sender_for(port).send(message("email", to=("a@example.com",), text="Hi\rBcc: evil@example.com\n\nbody"))

    mail = received(inbox.envelopes[0])
    assert (mail["Subject"], mail["Bcc"]) == ("Hi", None)
    assert inbox.envelopes[0].rcpt_tos == ["a@example.com"]


@pytest.mark.parametrize("to", [("a@example.com\r\nBcc: evil@example.com",), ("not an address",), ()])
def test_an_unusable_address_is_refused_before_connecting(to):
    with pytest.raises(DeliveryError) as caught:
        sender_for(free_port()).send(message("email", to=to))

    assert caught.value.retryable is False


def test_smtp_login_uses_the_credentials_from_the_url(smtp_server):
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    inbox = Inbox()
    port = smtp_server(inbox, authenticator=authenticator, auth_require_tls=False)

    sender_for(port, user="bot:p%40ss@").send(message("email", to=("a@example.com",)))

    assert seen == [(b"bot", b"p@ss")]
    assert len(inbox.envelopes) == 1


@pytest.mark.parametrize("inbox, retryable, status", [
    (Inbox(data_reply="451 4.3.0 try again later"), True, 451),
    (Inbox(data_reply="554 5.7.1 rejected as spam"), False, 554),
    (Inbox(refuse={"a@example.com"}), False, 550),
], ids=["451 on data", "554 on data", "550 for every recipient"])
def test_smtp_replies_are_classified_for_retries(smtp_server, inbox, retryable, status):
    port = smtp_server(inbox)

    with pytest.raises(DeliveryError) as caught:
        sender_for(port).send(message("email", to=("a@example.com",)))

    assert (caught.value.retryable, caught.value.status) == (retryable, status)


def test_a_partly_refused_email_reports_who_did_not_get_it(smtp_server):
    port = smtp_server(Inbox(refuse={"gone@example.com"}))

    delivery = sender_for(port).send(message("email", to=("a@example.com", "gone@example.com")))

    assert delivery.refused == {"gone@example.com": "550 5.1.1 no such user"}


def test_an_smtp_server_that_is_down_is_worth_retrying():
    with pytest.raises(DeliveryError) as caught:
        sender_for(free_port(), user="bot:hunter2@").send(message("email", to=("a@example.com",)))

    assert caught.value.retryable is True
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.com", SmtpTarget("mail.example.com", 25)),
    ("smtp://u:p%2Fw@mail.example.com:587?starttls=1", SmtpTarget("mail.example.com", 587, "u", "p/w", True)),
    ("smtps://u:pw@mail.example.com", SmtpTarget("mail.example.com", 465, "u", "pw", False, True)),
])
def test_smtp_urls_are_parsed(url, expected):
    assert SmtpTarget.parse(url) == expected


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://mail.example.com:notaport"])
def test_a_bad_smtp_url_is_a_config_error(url):
    with pytest.raises(CommsConfigError):
        SmtpTarget.parse(url)


def test_dry_run_shows_the_email_without_the_password():
    request = EmailSender("smtp://bot:hunter2@mail.example.com:587?starttls=1", "escalator@example.com").build_request(
        message("email", to=("a@example.com",)))

    assert request == {"method": "SMTP", "url": "smtp://bot:********@mail.example.com:587?starttls=1",
                       "from": "escalator@example.com", "to": ["a@example.com"],
                       "subject": "SUP-1 escalated to L2 — severity critical", "body": TEXT.strip()}
