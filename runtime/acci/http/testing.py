"""Generated HTTP tests (`<domain>/tests/test_<domain>_http.py`): every scenario of a domain file
sent through its generated router, on the real PostgreSQL, with httpx through ASGI.

A scenario's given events are appended as in acci.testing.run_scenario; its command is sent to its
route (path parameters in the path, the rest as the JSON body) with the scenario's tenant, user,
correlation id and timestamp; the answer's status is the one its outcome maps to (200; 422
`invalid`; 404 `not_found`; 409 `already_exists`; 400 with the rule's `code`) and the stream holds
exactly the given and the expected events. For each scenario that changes an existing aggregate,
If-Match is checked too: a stale version is a 412 and appends nothing; with If-Match required, a
command without one is a 428.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from acci.commands import Command, CommandHandler, Handlers, Precondition
from acci.events import NewEvent
from acci.http.app import create_app
from acci.http.identity import HeaderIdentity
from acci.registry import EventRegistry
from acci.service import Service
from acci.settings import HttpSettings, Settings
from acci.store.postgres import PostgresEventStore
from acci.streams import NO_STREAM, StreamId
from acci.testing import Scenario, TestFunction, _event, _one, scenario_metadata

#: The status each outcome of a scenario maps to (a rule's code: 400).
STATUS = {None: 200, "invalid": 422, "not_found": 404, "already_exists": 409}


def _route(router: APIRouter, command_type: str) -> APIRoute:
    for route in router.routes:
        if isinstance(route, APIRoute) and route.operation_id == command_type:
            return route
    raise AssertionError(f"the router has no route for {command_type}")


def request_of(
    router: APIRouter, name: str, data: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any] | None]:
    """(method, URL, JSON body or None) of a command sent over HTTP."""
    route = _route(router, name)
    in_path = list(route.param_convertors)
    url = route.path
    for param in in_path:
        url = url.replace("{" + param + "}", quote(str(data.get(param, "missing")), safe=""))
    has_body = route.body_field is not None
    body = {k: v for k, v in data.items() if k not in in_path} if has_body else None
    return next(iter(route.methods or {"POST"})), url, body


def _headers(scenario: Scenario) -> dict[str, str]:
    meta = scenario_metadata(**scenario.metadata)
    return {"X-Tenant-Id": meta.tenant_id, "X-User-Id": meta.user_id, "X-Correlation-Id": meta.correlation_id}


def _client(
    store: PostgresEventStore, registry: EventRegistry, router: APIRouter, scenario: Scenario, **http: Any
) -> httpx.AsyncClient:
    timestamp: datetime = scenario_metadata(**scenario.metadata).timestamp
    app = create_app(
        Service("scenarios", registry=registry),
        [router],
        settings=Settings(http=HttpSettings(auth="headers", **http)),
        store=store,
        identity=HeaderIdentity(),
        clock=lambda: timestamp,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def _request(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request to the app. An unwritten hand-written decision (a stub that raises
    NotImplementedError, which the app does not turn into a response) fails the test with the
    stub's message, as the direct scenario tests do."""
    try:
        return await client.request(method, url, **kwargs)
    except NotImplementedError as error:
        pytest.fail(str(error))


async def _given(
    store: PostgresEventStore, registry: EventRegistry, handlers: Handlers, scenario: Scenario
) -> tuple[StreamId | None, list[Any]]:
    """The scenario's stream (None when its command's data is invalid) and its given events."""
    name, data = _one(scenario.when)
    command_class = {c.command_type: c for c in handlers}[name]
    handler = handlers[command_class](store)
    if not isinstance(handler, CommandHandler):
        pytest.skip(f"{name} is a command on several aggregates; its HTTP test is its own scenario's")
    try:
        command = command_class.model_validate(data)
    except ValueError:
        return None, []
    stream = StreamId(
        scenario_metadata(**scenario.metadata).tenant_id,
        handler.aggregate_class.aggregate_type,
        handler.aggregate_id(Command(command, scenario_metadata(**scenario.metadata))),
    )
    given = [_event(registry, event) for event in scenario.given]
    if given:
        await store.append(stream, [NewEvent.of(event) for event in given], NO_STREAM)
    return stream, given


def http_scenario_test(
    router: APIRouter, registry: EventRegistry, handlers: Handlers, scenarios: Sequence[Scenario]
) -> TestFunction:
    """One test per scenario, through the generated router on PostgreSQL (see the module)."""

    @pytest.mark.parametrize("scenario", scenarios, ids=[s.name for s in scenarios])
    async def test_scenario_over_http(postgres_store: PostgresEventStore, scenario: Scenario) -> None:
        stream, given = await _given(postgres_store, registry, handlers, scenario)
        name, data = _one(scenario.when)
        method, url, body = request_of(router, name, data)
        async with _client(postgres_store, registry, router, scenario) as client:
            response = await _request(client, method, url, json=body, headers=_headers(scenario))
        problem = response.json()
        assert response.status_code == STATUS.get(scenario.error, 400), problem
        if scenario.error is not None:
            assert response.headers["content-type"] == "application/problem+json"
            if response.status_code == 400:
                assert problem["code"] == scenario.error, problem
        if stream is None:
            return
        stored = [registry.decode(event) for event in await postgres_store.read_stream(stream)]
        expected = [_event(registry, event) for event in scenario.then] if scenario.error is None else []
        assert stored == [*given, *expected]
        if scenario.error is None:
            assert [e["type"] for e in problem["events"]] == [type(e).event_type for e in expected]
            assert response.headers["ETag"] == f'"{problem["version"]}"'

    return test_scenario_over_http


def http_if_match_test(
    router: APIRouter, registry: EventRegistry, handlers: Handlers, scenarios: Sequence[Scenario]
) -> TestFunction:
    """For each scenario whose command succeeds on an existing aggregate: a stale If-Match is a
    412 and appends nothing; with If-Match required, none is a 428 (for `must_exist` commands);
    the current version succeeds."""
    chosen = [s for s in scenarios if s.given and s.error is None]

    @pytest.mark.parametrize("scenario", chosen, ids=[s.name for s in chosen])
    async def test_if_match_over_http(postgres_store: PostgresEventStore, scenario: Scenario) -> None:
        stream, given = await _given(postgres_store, registry, handlers, scenario)
        assert stream is not None
        name, data = _one(scenario.when)
        method, url, body = request_of(router, name, data)
        command_class = {c.command_type: c for c in handlers}[name]
        existing = getattr(handlers[command_class], "precondition", None) is Precondition.MUST_EXIST
        headers = _headers(scenario)
        async with _client(postgres_store, registry, router, scenario, require_if_match=True) as client:
            stale = await _request(
                client, method, url, json=body, headers={**headers, "If-Match": f'"{len(given) + 1}"'}
            )
            assert stale.status_code == 412, stale.json()
            if existing:
                missing = await _request(client, method, url, json=body, headers=headers)
                assert missing.status_code == 428, missing.json()
            assert len(await postgres_store.read_stream(stream)) == len(given)
            current = await _request(
                client, method, url, json=body, headers={**headers, "If-Match": f'"{len(given)}"'}
            )
            assert current.status_code == 200, current.json()

    return test_if_match_over_http
