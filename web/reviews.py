"""`/reviews`: after-action reviews as a team lead works them in the browser.

The pages call the same use cases as `/api/reviews` (`plugin.reviews.ReviewDesk`); a refusal from
them (a bad date, an owner the matrix does not know, a skipped status) is shown beside the form
that caused it, with what was typed kept, never as an error page.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for

from plugin.domain.durations import format_duration
from plugin.domain.review import (
    DRAFT,
    FINAL,
    IN_REVIEW,
    ITEM_STATUSES,
    OPEN,
    STATUSES,
    ActionItem,
    InvalidReviewInput,
    Review,
    ReviewError,
    ReviewNotFound,
    overdue,
)
from plugin.review_api import desk
from plugin.review_export import markdown
from plugin.reviews import ReviewDesk, sections_json

from .auth import EDIT_REVIEWS, VIEW, current_user, requires

bp = Blueprint("reviews", __name__, url_prefix="/reviews")

LIMIT = 500
NEXT_STATUS = {DRAFT: IN_REVIEW, IN_REVIEW: FINAL}      # the one move the page offers
STATUS_NAMES = {DRAFT: "Draft", IN_REVIEW: "In review", FINAL: "Final"}
ITEM_STATUS_NAMES = {"open": "Open", "done": "Done", "wont_do": "Won't do"}
_REFUSED = {ReviewNotFound: 404, InvalidReviewInput: 400}


# -- reading --------------------------------------------------------------------------------------

@bp.get("")
@requires(VIEW)
def index():
    status = request.args.get("status") or None
    problem = None
    if status not in (None, *STATUSES):
        problem, status = f"There is no status {status!r}; showing every review.", None
    now, late_only = _now(), request.args.get("overdue") == "1"
    simulated = request.args.get("simulated") in ("1", "true")
    reviews = desk()
    rows = [_row(review, now) for review in reviews.list(status, LIMIT, simulated)]
    shown = [row for row in rows if row["overdue"] or not late_only]
    # With no real review to list, say whether a simulated month has some, so a newcomer finds them.
    hidden = not simulated and not rows and bool(reviews.list(status, 1, simulated=True))
    return render_template("reviews/list.html", rows=shown, status=status, statuses=STATUSES, late_only=late_only,
                           simulated=simulated, hidden=hidden, status_names=STATUS_NAMES, problem=problem,
                           limit=LIMIT, listed=len(rows))


def _row(review: Review, now) -> dict:
    open_items = [a for a in review.actions if a.status == OPEN]
    return {"review": review, "open": len(open_items), "overdue": sum(overdue(a, now) for a in open_items)}


@bp.get("/<review_id>")
@requires(VIEW)
def show(review_id: str):
    return _page(_id(review_id))


@bp.get("/<review_id>/export.<kind>")
@requires(VIEW)
def exported(review_id: str, kind: str):
    """The review as a file to share: Markdown for a wiki, or one self-contained HTML page to attach."""
    reviews = desk()
    review = _review(reviews, _id(review_id))
    if kind == "md":
        text, mimetype = markdown(review, reviews.prefill(review), _now()), "text/markdown"
    elif kind == "html":
        text, mimetype = render_template("reviews/export.html", **_context(reviews, review)), "text/html"
    else:
        abort(404)
    name = _safe_filename(f"review-{review.id}-{review.platform}-{review.key}.{kind}")
    # An attachment: opened from disk it has only its own policy, which allows its inline style.
    return Response(text, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- changing -------------------------------------------------------------------------------------

@bp.post("/<review_id>/sections")
@requires(EDIT_REVIEWS)
def sections_saved(review_id: str):
    number = _id(review_id)
    reviews = desk()
    review = _review(reviews, number)
    shown_now = {s["key"]: s["text"] for s in sections_json(review, reviews.prefill(review))}
    edits = {key: _lines(request.form[key]) for key in shown_now
             if key in request.form and _lines(request.form[key]) != _lines(shown_now[key])}
    if not edits:
        flash("Nothing changed in the sections.", "info")
        return _back(number, "sections")
    return _attempt(number, "sections", lambda: reviews.edit(number, sections=edits),
                    f"Saved {len(edits)} section(s).")


@bp.post("/<review_id>/status")
@requires(EDIT_REVIEWS)
def status_moved(review_id: str):
    number = _id(review_id)
    wanted = request.form.get("status", "")
    return _attempt(number, "status", lambda: desk().edit(number, status=wanted),
                    f"The review is now {STATUS_NAMES.get(wanted, wanted).lower()}.")


@bp.post("/<review_id>/actions")
@requires(EDIT_REVIEWS)
def action_added(review_id: str):
    number = _id(review_id)
    fields = {name: request.form.get(name, "").strip() for name in ("title", "owner", "due", "link")}
    return _attempt(number, "new-action", lambda: desk().add_action(number, fields),
                    "Action item added.", anchor="actions")


@bp.post("/<review_id>/actions/<item>")
@requires(EDIT_REVIEWS)
def action_changed(review_id: str, item: str):
    number, item_number = _id(review_id), _id(item)
    reviews = desk()
    changes = _item_changes(_review(reviews, number), item_number, request.form)
    if not changes:
        flash(f"Action item {item_number}: nothing changed.", "info")
        return _back(number, f"action-{item_number}")
    return _attempt(number, f"action-{item_number}", lambda: reviews.change_action(number, item_number, changes),
                    f"Action item {item_number} saved.", anchor=f"action-{item_number}")


def _item_changes(review: Review, number: int, form) -> dict:
    """Only the fields the lead changed: resubmitting the shown due date must not move it to the end of day."""
    try:
        item = review.action(number)
    except ReviewNotFound:
        abort(404)
    shown = {"status": item.status, "owner": item.owner, "due": due_value(item)}
    return {name: form[name].strip() for name in shown if name in form and form[name].strip() != shown[name]}


def _attempt(number: int, form_name: str, change, done: str, anchor: str | None = None):
    """Apply a change; on success back to the page (so a reload repeats nothing), else the page with the error."""
    try:
        change()
    except ReviewError as exc:      # a missing review or item is a 404 from the page itself
        status = _REFUSED.get(type(exc), 409)
        return _page(number, error={"form": form_name, "message": str(exc), "values": request.form}, status=status)
    flash(done, "info")
    return _back(number, anchor or form_name)


# -- the page -------------------------------------------------------------------------------------

def _page(number: int, error: dict | None = None, status: int = 200):
    reviews = desk()
    review = _review(reviews, number)
    lead = current_user().can(EDIT_REVIEWS)
    return render_template(
        "reviews/review.html", **_context(reviews, review),
        owners=sorted(reviews.owners()), ticket_url=_http_only(reviews.ticket_url(review)),
        # Sections freeze with the review; action items are tracked until done, final or not.
        can_write=lead and review.status != FINAL, can_manage=lead,
        next_status=NEXT_STATUS.get(review.status), item_statuses=ITEM_STATUSES, error=error,
        typed=lambda form, field, default: _typed(error, form, field, default),
    ), status


def _context(reviews: ReviewDesk, review: Review) -> dict:
    """What the page and the HTML export both show: the pre-fill, the sections and the items."""
    facts, now = reviews.prefill(review), _now()
    return {"review": review, "facts": facts, "sections": sections_json(review, facts),
            "items": [{"item": a, "overdue": overdue(a, now), "due": due_value(a)} for a in review.actions],
            "status_names": STATUS_NAMES, "item_status_names": ITEM_STATUS_NAMES}


def _typed(error: dict | None, form: str, field: str, default: str) -> str:
    """What the lead typed into the form that was refused, so nothing is lost; else the stored value."""
    return error["values"].get(field, default) if error and error["form"] == form else default


@bp.context_processor
def helpers() -> dict:
    return {"when": when, "duration": duration, "shown": as_text}


def as_text(value) -> str:
    """A value a decision changed, as text: a list of labels joined, nothing as a dash."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    return "-" if value in ("", None) else str(value)


def when(iso: str | None) -> str:
    """An ISO time from the pre-fill as people read it."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else "-"


def duration(seconds: int | None, missing: str = "-") -> str:
    return format_duration(timedelta(seconds=seconds)) if seconds is not None else missing


def due_value(item: ActionItem) -> str:
    """The due date as a date input shows it (UTC)."""
    return item.due_at.strftime("%Y-%m-%d")


def _review(reviews: ReviewDesk, number: int) -> Review:
    try:
        return reviews.get(number)
    except ReviewNotFound:
        abort(404)


def _id(text: str) -> int:
    # Nine digits at most, as the API: a larger number is no id we gave, and PostgreSQL's integer would refuse it.
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        abort(404)
    return int(text)


def _back(number: int, anchor: str):
    return redirect(url_for("reviews.show", review_id=number, _anchor=anchor), code=303)


def _now():
    return current_app.extensions["escalator"].clock.now()


def _lines(text: str) -> str:
    """Browsers send CRLF from a textarea; the review stores LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _http_only(url: str) -> str:
    # The pattern is the admin's, but a link we render must never be javascript: or data:.
    return url if url.startswith(("https://", "http://")) else ""


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
