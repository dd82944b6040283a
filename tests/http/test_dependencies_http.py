"""Every route of the generated APIs runs in the event loop: FastAPI runs a plain `def` endpoint
or dependency in a worker thread, and that hop on each request cost more CPU than the rest of a
`get_user` request's dependencies together (issue 13). A sync function slipped into a route's
dependencies fails here."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from acci.http import create_app, domain_routers
from acci.settings import HttpSettings, Settings
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from tests.http.conftest import domain_service

DOMAINS = ["identity", "ordering", "inventory", "billing"]


def _calls(dependant: Dependant) -> Iterator[object]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _sync(call: object) -> bool:
    """True if FastAPI would run `call` in a worker thread (as its own check decides)."""
    target = call if inspect.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
    return not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target))


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_route_of_the_api_runs_in_a_worker_thread(domain: str) -> None:
    app = create_app(domain_service(domain), settings=Settings(http=HttpSettings(auth="headers")))
    (router,) = domain_routers([domain])
    # The domain's routes (the app holds its router as one included entry) and the app's probes.
    routes = [r for r in [*router.routes, *app.routes] if isinstance(r, APIRoute)]
    assert len(routes) > 3, f"no routes of {domain}"
    sync = sorted(
        {
            f"{route.path}: {getattr(call, '__qualname__', call)}"
            for route in routes
            for call in _calls(route.dependant)
            if _sync(call)
        }
    )
    assert sync == [], f"these run in a worker thread on each request: {sync}"
