"""The one table from a stage's exception to the HTTP answer."""

from __future__ import annotations

import json

import pytest

from collector.auth import Unauthorized
from collector.body import PayloadTooLarge
from collector.decode import UnsupportedMediaType
from collector.model import PayloadError
from collector.openapi import openapi
from collector.problems import PROBLEMS, problem_for, problem_response
from collector.ratelimit import RateLimited
from collector.spool import SpoolFullError
from collector.validate import ForbiddenError
from collector.versions import Gone


@pytest.mark.parametrize(
    ("exc", "status", "code", "message", "headers"),
    [
        (PayloadError("body: bad"), 400, "invalid", "body: bad", {}),
        (Unauthorized("no token"), 401, "unauthorized", "no token", {"www-authenticate": "Token"}),
        (ForbiddenError("not yours"), 403, "forbidden", "not yours", {}),
        (Gone("retired", {"Sunset": "x"}), 410, "gone", "retired", {"sunset": "x"}),
        (PayloadTooLarge("big"), 413, "request too large", "big", {}),
        (UnsupportedMediaType("xml"), 415, "invalid", "xml", {}),
        (RateLimited(2.6), 429, "too many requests", "rate limit exceeded: retry after 2.6s", {"retry-after": "3"}),
        (RateLimited(0.01), 429, "too many requests", "rate limit exceeded: retry after 0.0s", {"retry-after": "1"}),
        (
            SpoolFullError("spool holds 9 bytes"),
            503,
            "unavailable",
            "ingestion is saturated: retry later",
            {"retry-after": "5"},
        ),
    ],
)
def test_each_failure_has_its_answer(exc: Exception, status: int, code: str, message: str, headers: dict) -> None:
    response = problem_response(exc, {"Deprecation": "@1"})
    assert response.status_code == status
    assert json.loads(response.body) == {"error": message, "code": code, "message": message}
    assert {key: response.headers[key] for key in headers} == headers
    assert response.headers["deprecation"] == "@1"  # the version headers travel with every answer


def test_a_subclass_is_answered_like_its_base_and_an_unlisted_error_is_not_swallowed() -> None:
    class Malformed(PayloadError):
        pass

    assert problem_for(Malformed("x")).status == 400
    with pytest.raises(KeyError):
        problem_for(RuntimeError("x"))


def test_openapi_lists_exactly_the_table() -> None:
    for path, item in openapi()["paths"].items():
        if "post" in item:
            failures = {code for code in item["post"]["responses"] if code >= "400"}
            assert failures == {str(problem.status) for problem in PROBLEMS.values()}, path
