"""Errors as RFC 9457 problem details (`application/problem+json`), one stable `type` per kind.

Each ACCI error class maps to a status and a problem type (`PROBLEM_BASE` + a slug that never
changes, so clients can match on it); the message of the error is the `detail`. A command
rejected by a rule carries the rule's `code`; invalid data carries the field errors. Anything
unexpected is a 500 with no detail (the traceback goes to the log, never to the caller).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from acci.errors import (
    AcciError,
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandIdReused,
    CommandRejected,
    CommandValidationError,
    ConcurrencyError,
    ConsistencyTimeout,
    InvalidQuery,
    TransientDatabaseError,
    VersionMismatch,
)

log = logging.getLogger("acci.http")

PROBLEM_JSON = "application/problem+json"
#: The prefix of every problem type ACCI answers with; the slug after it is stable.
PROBLEM_BASE = "https://acci.dev/problems/"
#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER = "1"


class FieldProblem(BaseModel):
    """One invalid value: where it is (dotted path, `body.`/`query.`/`path.`/`header.` for the
    request's parts) and what is wrong with it."""

    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with ACCI's extensions."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem; stable, match on it.")
    title: str = Field(description="The kind of problem, in words.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(default="", description="This occurrence, in words: what failed and what to do.")
    code: str | None = Field(default=None, description="The rejection code of a domain rule (400).")
    errors: list[FieldProblem] | None = Field(default=None, description="The invalid values (422).")
    correlation_id: str | None = Field(default=None, description="The request's correlation id.")


class HttpProblem(Exception):
    """A problem the HTTP layer itself finds (a bad header, no credentials): raised, then answered
    by the handler below like an ACCI error."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldProblem] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


# Most specific first: the first class an error is an instance of decides.
_MAPPING: list[tuple[type[AcciError], int, str, str]] = [
    (CommandValidationError, 422, "invalid-command", "The command's data is invalid"),
    (InvalidQuery, 422, "invalid-query", "The query's parameters are invalid"),
    (CommandIdReused, 422, "idempotency-key-reused", "The idempotency key was used for another request"),
    (CommandRejected, 400, "rejected", "The command was rejected by a domain rule"),
    (AggregateNotFound, 404, "not-found", "The aggregate does not exist"),
    (AggregateAlreadyExists, 409, "already-exists", "The aggregate exists already"),
    (VersionMismatch, 412, "version-mismatch", "The aggregate is not at the expected version"),
    (ConcurrencyError, 409, "conflict", "Another change to the aggregate came first"),
    (ConsistencyTimeout, 503, "consistency-timeout", "The read models did not catch up in time"),
    (TransientDatabaseError, 503, "database-unavailable", "The database is unavailable for the moment"),
]

#: Each status the mapping can answer with, its problem types (for the OpenAPI document).
STATUSES: dict[int, list[str]] = {}
for _kind, _status, _slug, _title in _MAPPING:
    STATUSES.setdefault(_status, []).append(PROBLEM_BASE + _slug)


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    problem = Problem(
        type=PROBLEM_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        correlation_id=getattr(request.state, "correlation_id", None),
        **extra,
    )
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_problems(problems: list[str]) -> list[FieldProblem]:
    """CommandValidationError's and InvalidQuery's "path: message" lines as field problems."""
    found = []
    for line in problems:
        where, sep, message = line.partition(": ")
        found.append(
            FieldProblem(field=where, message=message) if sep else FieldProblem(field="", message=line)
        )
    return found


async def _acci_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AcciError)
    for kind, status, slug, title in _MAPPING:
        if isinstance(error, kind):
            extra: dict[str, Any] = {}
            headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
            if isinstance(error, CommandValidationError | InvalidQuery):
                extra["errors"] = _field_problems(error.problems)
            elif isinstance(error, CommandRejected):
                extra["code"] = error.code
            return problem_response(status, slug, title, str(error), request, headers=headers, **extra)
    log.error("request failed: %s", error, exc_info=error)
    return problem_response(
        500, "internal", "Internal error", "the service failed; its log says why.", request
    )


async def _http_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HttpProblem)
    return problem_response(
        error.status,
        error.slug,
        error.title,
        error.detail,
        request,
        headers=error.headers,
        errors=error.errors,
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        FieldProblem(field=".".join(str(part) for part in e.get("loc", ())), message=str(e.get("msg", "")))
        for e in error.errors()
    ]
    listing = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem_response(
        422,
        "invalid-request",
        "The request is invalid",
        f"the request is invalid: {listing}. Fix it and send it again.",
        request,
        errors=errors,
    )


async def _http_exception(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    return problem_response(
        error.status_code,
        slug,
        str(error.detail),
        str(error.detail),
        request,
        headers=dict(error.headers) if error.headers else None,
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error("request failed unexpectedly", exc_info=error)
    return problem_response(
        500, "internal", "Internal error", "the service failed; its log says why.", request
    )


def install(app: FastAPI) -> None:
    """Answer every error of `app` with problem details."""
    app.add_exception_handler(AcciError, _acci_error)
    app.add_exception_handler(HttpProblem, _http_problem)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route that can answer with these problem statuses."""
    described = {
        400: "Rejected by a domain rule, or a malformed header",
        401: "No valid credentials",
        404: "Not found",
        409: "Already exists, or a conflicting change came first",
        412: "Not at the version If-Match names",
        422: "Invalid data, parameters, cursor or idempotency key",
        428: "If-Match is required",
        503: "Database unavailable, or read models behind; retry after Retry-After",
    }
    return {
        status: {
            "description": described[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
