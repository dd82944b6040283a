"""`create_app(service)`: the FastAPI application of a service, from its domains' generated routers.

Each generated domain has `<domain>.api.router`; the app mounts them (each under `/<domain>`),
answers every error with problem details, sets the correlation id, and serves the probes and the
metrics (`/livez`, `/readyz`, `/metrics`) and the OpenAPI UI (`/docs`). The event store is opened
when the app starts (from the settings) unless one is given, and closed when it stops.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from acci.commands import INT_RANGE
from acci.errors import ConfigurationError
from acci.health import check_readiness
from acci.http import problems
from acci.http.context import HttpContext
from acci.http.correlation import CorrelationMiddleware
from acci.http.cursors import Cursors
from acci.http.identity import IdentityProvider, identity_provider
from acci.http.problems import Problem
from acci.migrations import runtime_migrations
from acci.service import Service
from acci.settings import Settings, load_settings
from acci.store.postgres import PostgresEventStore
from acci.stores import open_store

#: The version of the OpenAPI documents (the API's own version is the service's).
API_VERSION = "1"


def domain_routers(domains: Sequence[str]) -> list[APIRouter]:
    """The generated router of each domain (`<domain>.api.router`)."""
    routers = []
    for domain in domains:
        try:
            module = importlib.import_module(f"{domain}.api")
        except ImportError as error:
            raise ConfigurationError(
                f"cannot import {domain}.api ({error}): generate the domain again with acci-gen, and "
                "install acci[http]."
            ) from error
        router = getattr(module, "router", None)
        if not isinstance(router, APIRouter):
            raise ConfigurationError(f"{domain}.api.router is not a FastAPI APIRouter.")
        routers.append(router)
    return routers


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, with the Problem schema and the bearer security scheme."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                _not_nullable(parameter)
    _bounded_integers(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in problem.pop("$defs", {}).items():
        schemas[name] = schema
    schemas["Problem"] = problem
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    document["security"] = [{"bearer": []}]
    return document


def _not_nullable(parameter: dict[str, Any]) -> None:
    """An optional parameter is left out, never sent as "null": its schema (FastAPI's anyOf with
    null, from `str | None`) says only what a value that is sent must be."""
    schema = parameter.get("schema", {})
    options = schema.get("anyOf")
    if options is None or {"type": "null"} not in options:
        return
    kept = [option for option in options if option != {"type": "null"}]
    del schema["anyOf"]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


def _bounded_integers(node: Any) -> None:
    """Every integer is a bigint (acci.commands.INT_RANGE): the contract says so."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            low, high = INT_RANGE
            node.setdefault("minimum", low)
            node.setdefault("maximum", high)
        for value in node.values():
            _bounded_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bounded_integers(value)


def openapi_json(app: FastAPI) -> str:
    """The OpenAPI document as committed (`generated/<domain>/openapi.json`): sorted keys."""
    return json.dumps(openapi_document(app), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def domain_openapi_json(router: APIRouter, title: str, description: str = "") -> str:
    """The OpenAPI document of one domain's router, as acci-gen commits it."""
    app = FastAPI(title=title, version=API_VERSION, description=description)
    app.include_router(router)
    return openapi_json(app)


def create_app(
    service: Service,
    routers: Sequence[APIRouter] | None = None,
    *,
    settings: Settings | None = None,
    store: PostgresEventStore | None = None,
    identity: IdentityProvider | None = None,
    title: str | None = None,
    description: str = "",
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The service's app. `routers`: the domains' routers (default: those of the domains the
    service was made of, or of the domain of its name); `store`: an open store to use (the app
    then neither opens nor closes one); `identity`: who calls (default: from the settings);
    `clock`: the commands' timestamps (default: now)."""
    settings = settings or load_settings()
    if routers is None:
        routers = domain_routers(service.domains or (service.name,))
    context = HttpContext(
        settings=settings.http,
        identity=identity or identity_provider(settings.http),
        cursors=Cursors(
            settings.http.cursor_secret.get_secret_value().encode() if settings.http.cursor_secret else None
        ),
        projections={p.name: p for p in service.projections},
        store=store,
    )
    if clock is not None:
        context.clock = clock

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if context.store is not None:
            yield
            return
        url = settings.url()
        if url is None:
            raise ConfigurationError("set ACCI_DATABASE_URL: the HTTP API needs the service's database.")
        # open_store: queries read from ACCI_DATABASE__READ_URL's replica when one is set.
        opened_store = await open_store(
            settings, url, application_name=f"{service.name}-http", projections=service.projections
        )
        async with opened_store as opened:
            context.store = opened
            try:
                yield
            finally:
                context.store = None

    app = FastAPI(
        title=title or service.name,
        version=API_VERSION,
        description=description,
        lifespan=lifespan,
    )
    app.state.acci = context
    problems.install(app)
    app.add_middleware(CorrelationMiddleware)
    for router in routers:
        app.include_router(router)
    _probes(app, service, settings, context)
    openapi: Callable[[], dict[str, Any]] = lambda: _cached_openapi(app)  # noqa: E731
    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _cached_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = openapi_document(app)
    return app.openapi_schema


def _probes(app: FastAPI, service: Service, settings: Settings, context: HttpContext) -> None:
    """/livez, /readyz and /metrics, as acci.monitoring serves them beside the runners."""
    wanted = runtime_migrations() + list(service.migrations)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> JSONResponse:
        return JSONResponse({"ok": True})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        report = await check_readiness(
            context.open_store(),
            service.runners(context.open_store()),
            wanted,
            max_lag_seconds=settings.monitoring.max_lag_seconds,
            max_lag_events=settings.monitoring.max_lag_events,
        )
        return JSONResponse(report.as_dict(), status_code=200 if report.ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
