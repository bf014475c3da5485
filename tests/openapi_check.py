"""Responses held to the API's OpenAPI description (web/openapi/*.yaml merged), with openapi-core.

`check_response(answer, "GET", "/api/deliveries?limit=abc")` fails unless the status is documented
for that operation, the content type is one it lists and the body matches its schema;
`check_request` fails unless the description accepts a request (its credential, parameters and body).
Each message lists every mismatch with where it is.
"""
from __future__ import annotations

from functools import cache

from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.deserializing.media_types.util import plain_loads
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from web.openapi import spec

SHOWN = 300        # characters of each mismatch: enough to see where, not a whole debrief


@cache
def described() -> OpenAPI:
    # openapi-core reads text/html and text/plain as text, any other type as bytes: a debrief is Markdown text.
    return OpenAPI.from_dict(spec(), config=Config(extra_media_type_deserializers={"text/markdown": plain_loads}))


def check_request(method: str, path: str, *, json=None, headers=None) -> None:
    """A request the description accepts (credential, parameters and body): for the ones a route serves,
    so the description never refuses what the route takes."""
    request = Request(EnvironBuilder(method=method.upper(), path=path, json=json, headers=headers).get_environ())
    errors = list(described().iter_request_errors(WerkzeugOpenAPIRequest(request)))
    if errors:
        problems = "\n  ".join(line[:SHOWN] for error in errors for line in _reasons(error))
        raise AssertionError(f"{method.upper()} {path} with {json!r} is unlike its description:\n  {problems}")


def check_response(response: Response, method: str, path: str) -> Response:
    """`response` (from the Flask test client) as the description documents it for `method path`."""
    request = Request(EnvironBuilder(method=method.upper(), path=path).get_environ())
    errors = list(described().iter_response_errors(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)))
    if errors:
        problems = "\n  ".join(line[:SHOWN] for error in errors for line in _reasons(error))
        raise AssertionError(f"{method.upper()} {path} answered {response.status_code} "
                             f"{response.mimetype} unlike its description:\n  {problems}\n"
                             f"body: {response.get_data(as_text=True)[:SHOWN]}")
    return response


def _reasons(error: Exception) -> list[str]:
    """The error and its causes, down to each schema mismatch with its place in the body."""
    reasons = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    while cause is not None:
        reasons.append(f"{type(cause).__name__}: {cause}")
        for mismatch in getattr(cause, "schema_errors", ()):
            where = "/".join(map(str, mismatch.absolute_path)) or "(the value itself)"
            reasons.append(f"at {where}: {mismatch.message}")
        cause = cause.__cause__
    return reasons
