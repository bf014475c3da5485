"""`/drafts`: customer messages the matrix drafted for a person to tailor, and the editor that sends them.

The pages call the same use case as `/api/drafts` (`plugin.drafting.act`): a send or discard is
queued for the processor, which sends the text through the outbox on the draft's own channel. A
refusal (an empty message, a missing reason, a draft someone else already sent) is shown beside
the form with what was typed kept. Customer-facing text is shown as text everywhere, never as markup.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from plugin.access import SEND_DRAFTS, VIEW
from plugin.domain.drafts import DISCARD, SEND, Draft, DraftNotFound, DraftRefused, diff_from_template
from plugin.drafting import act, find

from .auth import current_user, requires

drafts = Blueprint("drafts", __name__, url_prefix="/drafts")
LIMIT = 200
MODES = {"draft": "waits for someone", "draft_then_auto": "goes out as drafted unless someone acts"}
STATUS_NAMES = {"pending": "Waiting", "sent": "Sent", "auto_sent": "Sent as drafted (nobody acted)",
                "discarded": "Discarded"}


@drafts.get("")
@requires(VIEW)
def index():
    store, simulated = _container().store, request.args.get("simulated") in ("1", "true")
    return render_template("drafts/list.html", waiting=store.drafts(pending=True, limit=LIMIT, simulated=simulated),
                           done=store.drafts(pending=False, limit=50, simulated=simulated), simulated=simulated,
                           now=_container().clock.now(), modes=MODES, status_names=STATUS_NAMES)


@drafts.get("/<draft_id>")
@requires(VIEW)
def show(draft_id: str):
    return _page(_draft(draft_id))


@drafts.post("/<draft_id>/send")
@requires(SEND_DRAFTS)
def sent(draft_id: str):
    draft = _draft(draft_id)
    return _attempt(draft, SEND, "Queued: the message goes out in a moment, as you wrote it.",
                    text=request.form.get("text", ""))


@drafts.post("/<draft_id>/discard")
@requires(SEND_DRAFTS)
def discarded(draft_id: str):
    draft = _draft(draft_id)
    return _attempt(draft, DISCARD, "Discarded: nothing goes to the customer; the log keeps your reason.",
                    reason=request.form.get("reason", ""))


def _attempt(draft: Draft, action: str, done: str, **given: str):
    container = _container()
    try:
        act(container.store, draft.id, action, current_user().name, container.clock.now(), **given)
    except DraftRefused as exc:
        return _page(draft, error={"form": action, "message": str(exc), "values": request.form}, status=409)
    container.processor.doorbell.set()
    flash(done, "info")
    if request.form.get("back") == "ticket":
        return redirect(url_for("tickets.show", platform=draft.platform, key=draft.key, _anchor="drafts"), code=303)
    return redirect(url_for("drafts.show", draft_id=draft.id), code=303)


def _page(draft: Draft, error: dict | None = None, status: int = 200):
    """The draft's page; after a refusal, with the error beside the form, what was typed kept, and the
    way back to the page the form was on."""
    back = "ticket" if error and error["values"].get("back") == "ticket" else ""
    return render_template("drafts/show.html", d=draft, error=error, back=back, now=_container().clock.now(),
                           can_send=current_user().can(SEND_DRAFTS) and draft.pending, modes=MODES,
                           status_names=STATUS_NAMES, diff=diff_from_template(draft.template_text, draft.text)
                           if draft.text else ""), status


def _draft(draft_id: str) -> Draft:
    # Nine digits at most, as the API: a larger number is no id we gave.
    if not (draft_id.isascii() and draft_id.isdigit()) or len(draft_id) > 9:
        abort(404)
    try:
        return find(_container().store, int(draft_id))
    except DraftNotFound:
        abort(404)


def _container():
    return current_app.extensions["escalator"]
