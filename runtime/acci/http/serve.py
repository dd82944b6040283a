"""`python -m <service> serve`: the service's HTTP API under uvicorn.

Host, port and the number of worker processes come from the settings (`ACCI_HTTP__HOST`,
`__PORT`, `__WORKERS`). With one worker the app runs in this process; with more, uvicorn's
supervisor starts them, each building the app from the service's import path (`module:attribute`,
found from the service object, or ACCI_APP). `--with-projections` also runs the projection and
policy runners in this process (as `run` does); without it, run them apart (`python -m <service>
run`), which lets the API and the runners scale on their own.

SIGTERM (or Ctrl-C) shuts down gracefully: uvicorn stops accepting connections and finishes the
requests in flight, the runners finish their batches, the store closes, and the exit code is 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr

from acci.errors import ConfigurationError
from acci.http.app import create_app
from acci.migrations import migrate, runtime_migrations
from acci.service import Service, load_service
from acci.settings import Settings, load_settings

log = logging.getLogger("acci.http")

#: Where the worker processes find the service (set by `serve` for them).
SERVICE_ENV = "ACCI_HTTP_SERVICE"


def service_spec(service: Service) -> str:
    """`module:attribute` of the service object, for the worker processes to import it by."""
    given = os.environ.get(SERVICE_ENV) or os.environ.get("ACCI_APP")
    if given:
        return given
    for name, module in list(sys.modules.items()):
        if name == "__main__" or module is None:
            continue
        for attribute in ("service", "SERVICE", "app"):
            if getattr(module, attribute, None) is service:
                return f"{name}:{attribute}"
    raise ConfigurationError(
        f"cannot find the module of service {service.name!r} for the worker processes: set ACCI_APP to "
        "its module:attribute, or ACCI_HTTP__WORKERS=1."
    )


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory): the service named by SERVICE_ENV."""
    spec = os.environ.get(SERVICE_ENV)
    if not spec:
        raise ConfigurationError(f"{SERVICE_ENV} is not set: start the workers with `serve`.")
    return create_app(load_service(spec), settings=load_settings())


def serve(
    service: Service, settings: Settings, url: str, *, apply_migrations: bool, with_projections: bool
) -> int:
    """Serve the API until SIGTERM/SIGINT; 0 after a graceful shutdown. Call it from the main
    thread, outside an event loop (uvicorn takes the signals)."""
    if apply_migrations:
        applied = asyncio.run(migrate(url, runtime_migrations() + list(service.migrations)))
        log.info("%d migration(s) applied", len(applied))
    settings = settings.model_copy(update={"database_url": SecretStr(url)})
    if settings.http.workers > 1:
        return _serve_workers(service, settings, url, with_projections)
    return asyncio.run(_serve_one(service, settings, url, with_projections))


async def _serve_one(service: Service, settings: Settings, url: str, with_projections: bool) -> int:
    """One worker, in this process (with the runners beside it, when asked)."""
    import uvicorn

    http = settings.http
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # uvicorn takes SIGTERM/SIGINT while it serves, then restores these handlers and raises the
    # signal again: it reaches them, and they stop the runners.
    previous = {sig: signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set)) for sig in _SIGNALS}
    try:
        app = create_app(service, settings=settings)
        config = uvicorn.Config(app, host=http.host, port=http.port, lifespan="on", log_config=None)
        server = uvicorn.Server(config)
        runners = asyncio.create_task(_runners(service, settings, url, stop)) if with_projections else None
        await server.serve()
        stop.set()
        status = 0 if server.started else 1
        if runners is not None:
            status = max(status, await runners)
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _runners(service: Service, settings: Settings, url: str, stop: asyncio.Event) -> int:
    """The projection and policy runners until `stop` (as `run` does, without its endpoints), on
    the service's database and on each tenant database."""
    from acci.run import _run_projections, _tenant_stores
    from acci.stores import open_store

    name = f"{service.name}-runners"
    opened = await open_store(settings, url, application_name=name, projections=service.projections)
    async with opened as store:
        others = await _tenant_stores(settings, name, service)
        try:
            return await _run_projections([store, *others.values()], service, settings, stop)
        finally:
            for other in others.values():
                await other.close()


def _serve_workers(service: Service, settings: Settings, url: str, with_projections: bool) -> int:
    """Several worker processes under uvicorn's supervisor (which handles the signals)."""
    import uvicorn

    os.environ[SERVICE_ENV] = service_spec(service)
    os.environ["ACCI_DATABASE_URL"] = url
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    result: list[int] = []

    def run_runners() -> None:
        result.append(loop.run_until_complete(_runners(service, settings, url, stop)))

    thread = threading.Thread(target=run_runners, name="runners", daemon=True)
    if with_projections:
        thread.start()
    http = settings.http
    options: dict[str, Any] = {"factory": True, "workers": http.workers, "log_config": None}
    uvicorn.run("acci.http.serve:worker_app", host=http.host, port=http.port, **options)
    if not with_projections:
        loop.close()
        return 0
    loop.call_soon_threadsafe(stop.set)
    thread.join(settings.shutdown_timeout + 5)
    with contextlib.suppress(RuntimeError):
        loop.close()
    return result[0] if result else 1
