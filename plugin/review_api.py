"""`/api/reviews`: after-action reviews and their action items, as JSON.

Nested in the `api` blueprint, so the same Bearer token guards it. Every refusal is a JSON
`error` a person can act on: 400 for a value that can never be right, 404 for a missing review
or item, 409 for what the review's state does not allow.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .domain.review import InvalidReviewInput, ReviewConflict, ReviewError, ReviewNotFound
from .reviews import ReviewDesk, action_json, summary_json

reviews_api = Blueprint("reviews", __name__, url_prefix="/reviews")
MAX_LIMIT = 500
FLAGS = {"": False, "0": False, "false": False, "1": True, "true": True}
_STATUS = {InvalidReviewInput: 400, ReviewNotFound: 404, ReviewConflict: 409}


def desk() -> ReviewDesk:
    container = current_app.extensions["escalator"]
    return ReviewDesk(container.store, container.clock, lambda: container.matrix().matrix.parties,
                      container.service.notifier.ticket_urls if container.service.notifier else {})


@reviews_api.errorhandler(ReviewError)
def refused(exc: ReviewError):
    return jsonify({"error": str(exc)}), _STATUS.get(type(exc), 400)


@reviews_api.get("")
def listed():
    limit = _number(request.args.get("limit", "100"), "limit")
    simulated = _flag(request.args.get("simulated", ""), "simulated")
    found = desk().list(request.args.get("status") or None, min(max(limit, 1), MAX_LIMIT), simulated)
    now = current_app.extensions["escalator"].clock.now()
    return jsonify({"reviews": [summary_json(r, now) for r in found]})


@reviews_api.get("/<review_id>")
def shown(review_id: str):
    reviews = desk()
    return jsonify(reviews.as_json(reviews.get(_number(review_id, "review id", ReviewNotFound))))


@reviews_api.patch("/<review_id>")
def patched(review_id: str):
    body = _body({"sections", "status"})
    sections = body.get("sections")
    if sections is not None and not isinstance(sections, dict):
        raise InvalidReviewInput("`sections` is an object of section name -> text")
    reviews = desk()
    review = reviews.edit(_number(review_id, "review id", ReviewNotFound), sections=sections,
                          status=body.get("status"))
    return jsonify(reviews.as_json(review))


@reviews_api.post("/<review_id>/actions")
def action_added(review_id: str):
    item = desk().add_action(_number(review_id, "review id", ReviewNotFound), _body({"title", "owner", "due", "link"}))
    return jsonify(action_json(item, current_app.extensions["escalator"].clock.now())), 201


@reviews_api.patch("/<review_id>/actions/<number>")
def action_changed(review_id: str, number: str):
    changes = _body({"title", "owner", "due", "link", "status"})
    item = desk().change_action(_number(review_id, "review id", ReviewNotFound),
                                _number(number, "action item number", ReviewNotFound), changes)
    return jsonify(action_json(item, current_app.extensions["escalator"].clock.now()))


def _body(allowed: set[str]) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidReviewInput("send a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidReviewInput(f"unknown field(s) {', '.join(map(repr, unknown))}; expected some of: "
                                 f"{', '.join(sorted(allowed))}")
    return body


def _flag(text: str, what: str) -> bool:
    if text not in FLAGS:
        raise InvalidReviewInput(f"{what} {text!r} is not one of {', '.join(map(repr, FLAGS))}")
    return FLAGS[text]


def _number(text: str, what: str, error: type[ReviewError] = InvalidReviewInput) -> int:
    # Nine digits at most: a larger number is no id we gave, and PostgreSQL's integer would refuse it.
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise error(f"{what} {text!r} is not a number of at most 9 digits")
    return int(text)
