"""Template injection: customer text in every slot of a message is printed as written, never run, and a
hostile matrix template is stopped by the sandbox with an error naming the template and line."""
from __future__ import annotations

import pytest

from plugin.comms.render import RenderError, render_message, ticket_context

from .test_webhooks import SECRET, outage_payload, post_jira

# Jinja syntax a customer may type into a ticket, each meant to run if the text were parsed as a template.
PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in range(3) %}loop{% endfor %}",
    "{% set x = 7 * 7 %}{{ x }}",
    "{# hidden #}{{ 7*7 }}",
    "{% include '/etc/passwd' %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{% raw %}{{ x }}{% endraw %}",
]
# Every slot of the context whose text comes from the ticket, and how the template prints it.
SLOTS = {
    "summary": "{{ ticket.summary }}", "description": "{{ ticket.description }}",
    "workaround": "{{ ticket.workaround }}", "reporter": "{{ ticket.reporter }}",
    "assignee": "{{ ticket.assignee }}", "labels": "{{ ticket.labels | join(',') }}",
    "customer": "{{ ticket.customer.name }}", "timeline": "{{ timeline[0].what }} {{ timeline[0].why }}",
    "reason": "{{ reason }}",
}


def folder_with(tmp_path, **templates) -> str:
    for name, text in templates.items():
        (tmp_path / f"{name}.j2").write_text(text)
    return str(tmp_path)


def context_with(text: str) -> dict:
    ticket = ticket_context({"key": "SUP-1", "summary": text, "description": text, "workaround": text,
                             "reporter": text, "assignee": text, "labels": [text], "customer": {"name": text}})
    return {"ticket": ticket, "timeline": [{"what": text, "why": text}], "reason": text}


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("slot", SLOTS)
def test_template_syntax_in_ticket_text_is_printed_as_written(tmp_path, slot, payload):
    folder = folder_with(tmp_path, message=f"[{SLOTS[slot]}]")

    text = render_message(folder, "message.j2", context_with(payload))

    assert payload in text and "loop" not in text.replace(payload, "") and "49" not in text.replace(payload, "")


# A matrix template is written by an admin, but a stolen admin account or a malicious pull request must
# still not reach Python's internals through it.
HOSTILE_TEMPLATES = {
    "mro": ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
    "globals of a helper": ("{{ cycler.__init__.__globals__ }}", "access to attribute '__init__'"),
    "globals of range": ("{{ range.__globals__ }}", "access to attribute '__globals__'"),
    "attr filter": ("{{ ticket.summary | attr('__class__') }}", "access to attribute '__class__'"),
    "format string": ("{{ '{0.__class__}'.format(ticket.summary) }}", "access to attribute '__class__'"),
    "loop over subclasses": ("{% for c in ticket.__class__.__subclasses__() %}{{ c }}{% endfor %}",
                             "access to attribute '__class__' of 'dict' object is unsafe"),
    "self reference": ("{{ self.__init__.__globals__ }}", "access to attribute '__init__'"),
}


@pytest.mark.parametrize("source, reason", HOSTILE_TEMPLATES.values(), ids=HOSTILE_TEMPLATES.keys())
def test_a_hostile_matrix_template_is_refused_by_the_sandbox_with_its_line(tmp_path, source, reason):
    folder = folder_with(tmp_path, evil=f"Status of {{{{ ticket.key }}}}\n{source}\n")

    with pytest.raises(RenderError) as caught:
        render_message(folder, "evil.j2", context_with("text"))

    message = str(caught.value)
    assert message.startswith("template evil.j2 line 2: blocked by the sandbox: "), message
    assert reason in message


def test_a_template_cannot_include_a_file_outside_the_templates_folder(tmp_path):
    (tmp_path / "secret.txt").write_text("db password")
    (tmp_path / "templates").mkdir()
    folder = folder_with(tmp_path / "templates", evil="{% include '../secret.txt' %}")

    with pytest.raises(RenderError) as caught:
        render_message(folder, "evil.j2", context_with("text"))

    assert "not found" in str(caught.value) and "db password" not in str(caught.value)


# -- through the whole pipeline ---------------------------------------------------------------------------

@pytest.mark.parametrize("payload", PAYLOADS[:4])
def test_a_hostile_summary_reaches_the_customer_message_as_written(make_app, payload):
    """Intake, decision and rendering as in production: the comment queued for the ticket quotes the text."""
    app = make_app(api_token="", jira_webhook_secret=SECRET)
    answer = post_jira(app.test_client(), outage_payload("SUP-9", summary=f"Checkout is down {payload}"))
    assert answer.status_code == 202
    with app.extensions["escalator"].store.reading() as tx:
        notes = [row["data"]["body"] for row in tx.outbox_rows(key="SUP-9") if row["kind"] == "note"]
    quoted = [note for note in notes if payload in note]
    assert quoted, notes
    assert not any("loop" in note.replace(payload, "") or "49" in note.replace(payload, "") for note in quoted)
