"""`python -m <service> run`: a service's long-running process.

It binds the health and metrics endpoints (acci.monitoring), connects the store with the
settings' pool and session timeouts (queries of the process, if any, on the read replica), runs
every live projection and policy (one active instance of each among all processes; the others
stand by), on every tenant database too (ACCI_TENANTS__DATABASES: each has its own global
order), and, when there are policies, the runner of their deadlines, and stops gracefully: on
SIGTERM or SIGINT each runner finishes the batch it is applying (its transaction commits with its
checkpoint) and the process exits 0, or, when `shutdown_timeout` passes first, cancels the rest
(rolled back, so nothing is applied twice) and exits 1.

A projection that halts on a poison event (on_poison=halt) is not a reason to stop the others: its
runner waits until the projection runs again (`dead-letters replay`), then resumes; readiness
fails meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Sequence

from acci.errors import ProjectionHalted
from acci.health import HealthReport, check_readiness
from acci.logs import log_context
from acci.migrations import migrate, runtime_migrations
from acci.monitoring import MonitoringServer
from acci.policies import DeadlineRunner
from acci.projections import Projection, ProjectionRunner, RunnerSettings, projection_status
from acci.service import Service
from acci.settings import Settings
from acci.store._connect import connect
from acci.store.postgres import PostgresEventStore
from acci.stores import open_store
from acci.tracing import configure_tracing

log = logging.getLogger("acci.run")

#: Seconds between looks at a halted projection (is it running again?) and between restarts.
_RESTART_DELAY = 5.0


async def run_service(
    service: Service, settings: Settings, url: str, *, apply_migrations: bool = False
) -> int:
    """Run until SIGTERM/SIGINT; 0 when every runner stopped within the shutdown timeout."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    provider = (
        configure_tracing(service.name, settings.tracing.exporter) if settings.tracing.enabled else None
    )
    monitoring: MonitoringServer | None = None
    try:
        if apply_migrations:
            for target in [url, *settings.tenant_databases().values()]:
                applied = await migrate(target, runtime_migrations() + list(service.migrations))
                log.info("%d migration(s) applied", len(applied))
        name = f"{service.name}@{socket.gethostname()}"
        await check_database(settings.conninfo(url, application_name=name), settings.database.connect_timeout)
        async with await open_store(
            settings, url, application_name=name, projections=service.projections
        ) as store:
            if settings.monitoring.enabled:
                monitoring = _monitoring(store, service, settings)
                monitoring.start(loop)
            others = await _tenant_stores(settings, name, service)
            try:
                return await _run_projections([store, *others.values()], service, settings, stop)
            finally:
                for other in others.values():
                    await other.close()
    finally:
        if monitoring is not None:
            await asyncio.to_thread(monitoring.stop)
        if provider is not None:
            provider.shutdown()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _tenant_stores(settings: Settings, name: str, service: Service) -> dict[str, PostgresEventStore]:
    """The stores of the tenant databases besides the service's own (ACCI_TENANTS__DATABASES):
    each has its own global order, so its runners run on it."""
    stores: dict[str, PostgresEventStore] = {}
    try:
        for database, url in settings.tenant_databases().items():
            await check_database(
                settings.conninfo(url, application_name=name), settings.database.connect_timeout
            )
            # Only runners use these stores: no read pool.
            plain = settings.model_copy(
                update={"database": settings.database.model_copy(update={"read_url": None})}
            )
            stores[database] = await open_store(
                plain, url, application_name=name, projections=service.projections
            )
    except BaseException:
        for store in stores.values():
            await store.close()
        raise
    return stores


async def check_database(conninfo: str, within: float) -> None:
    """Connect once, so that a wrong URL, a server that is down or a missing database is one clear
    error within `within` seconds ("cannot connect to HOST:PORT: REASON"), not a pool retrying in
    the background."""
    connection = await connect(conninfo, seconds=within)
    await connection.close()


def _monitoring(store: PostgresEventStore, service: Service, settings: Settings) -> MonitoringServer:
    wanted = runtime_migrations() + list(service.migrations)

    async def readiness() -> HealthReport:
        return await check_readiness(
            store,
            service.runners(store),
            wanted,
            max_lag_seconds=settings.monitoring.max_lag_seconds,
            max_lag_events=settings.monitoring.max_lag_events,
        )

    return MonitoringServer(readiness, host=settings.monitoring.host, port=settings.monitoring.port)


def runner_settings(settings: Settings) -> RunnerSettings:
    return RunnerSettings(
        batch_size=settings.projections.batch_size,
        poll_interval=settings.projections.poll_interval,
        max_attempts=settings.projections.max_attempts,
        on_poison=settings.projections.on_poison,
        segments=settings.projections.segments,
        max_segments=settings.projections.max_segments,
    )


async def _run_projections(
    stores: Sequence[PostgresEventStore], service: Service, settings: Settings, stop: asyncio.Event
) -> int:
    """Every live projection and policy, and the deadlines, on each of `stores` (the service's
    database, then the tenant databases)."""
    chosen = runner_settings(settings)
    tasks: list[asyncio.Task[None]] = []
    live: list[Projection] = []
    for index, store in enumerate(stores):
        suffix = f"@{index}" if index else ""  # task names: which database's runner
        mine = [p for p in service.runners(store) if not p.inline]
        live += mine if index == 0 else []
        tasks += [asyncio.create_task(_supervise(store, p, chosen, stop), name=p.name + suffix) for p in mine]
        deadlines = DeadlineRunner(store, service.policies, settings=chosen)
        if deadlines.policies:
            tasks.append(
                asyncio.create_task(_supervise_deadlines(deadlines, stop), name="deadlines" + suffix)
            )
    log.info(
        "running %s on %d database(s) (pid %d); SIGTERM or Ctrl-C stops",
        ", ".join(p.name for p in live) or "nothing",
        len(stores),
        os.getpid(),
    )
    await stop.wait()
    log.info("stopping: finishing the current batches (at most %ss)", settings.shutdown_timeout)
    if not tasks:
        return 0
    _, pending = await asyncio.wait(tasks, timeout=settings.shutdown_timeout)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if pending:
        names = ", ".join(task.get_name() for task in pending)
        log.error(
            "%s did not stop within %ss: cancelled (their open batches were rolled back)",
            names,
            settings.shutdown_timeout,
        )
        return 1
    log.info("stopped")
    return 0


async def _supervise(
    store: PostgresEventStore, projection: Projection, settings: RunnerSettings, stop: asyncio.Event
) -> None:
    """Run the projection live until `stop`; after a halt wait until it runs again; after an
    unexpected error, log it and start again."""
    with log_context(projection=projection.name):
        while not stop.is_set():
            try:
                await ProjectionRunner(store, projection, settings).run(stop)
            except ProjectionHalted as error:
                log.error(
                    "%s; waiting until it runs again (`dead-letters replay %s`)", error, projection.name
                )
                while not stop.is_set() and (await _status(store, projection)) == "halted":
                    await _sleep_or_stop(stop, _RESTART_DELAY)
            except Exception:
                log.exception("%s stopped with an unexpected error; starting it again", projection.name)
                await _sleep_or_stop(stop, _RESTART_DELAY)


async def _supervise_deadlines(deadlines: DeadlineRunner, stop: asyncio.Event) -> None:
    """Send the policies' due deadlines until `stop`; after an unexpected error, start again."""
    while not stop.is_set():
        try:
            await deadlines.run(stop)
        except Exception:
            log.exception("the deadline runner stopped with an unexpected error; starting it again")
            await _sleep_or_stop(stop, _RESTART_DELAY)


async def _status(store: PostgresEventStore, projection: Projection) -> str:
    try:
        return (await projection_status(store, projection)).status
    except Exception:  # the database is away: look again later
        return "halted"


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
