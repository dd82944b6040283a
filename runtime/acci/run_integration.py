"""`python -m <service> relay` and `consume`: a service's integration-event processes.

`relay` publishes what the service's domains publish (one relay per publishing domain and
database, ACCI_TENANTS__DATABASES included, each the one active instance among all processes,
checkpointed in its database's `acci.checkpoints`); `consume` turns
other domains' public events into the service's commands (one durable consumer per consuming
domain and publisher, `<domain>_from_<publisher>`). Both stop gracefully on SIGTERM or SIGINT.
The broker is NATS JetStream, at ACCI_NATS_URL (default nats://127.0.0.1:4222); the stream's,
the relay's and the consumers' settings are acci.integration.IntegrationSettings (defaults).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Coroutine, Sequence
from typing import Any, Literal

from acci._gcpause import freeze_startup_objects
from acci.errors import ConfigurationError
from acci.integration import IntegrationConsumer, IntegrationRelay, IntegrationSettings, Transport
from acci.run import check_database
from acci.service import Service
from acci.settings import Settings
from acci.store.postgres import PostgresEventStore
from acci.tenants import TenantRouter

log = logging.getLogger("acci.run")

Mode = Literal["relay", "consume"]


async def connect_transport(settings: IntegrationSettings) -> Transport:
    """The NATS JetStream transport; a clear error when nats-py is not installed."""
    try:
        from acci.integration.jetstream import NatsTransport
    except ImportError as error:
        raise ConfigurationError(
            f"integration events need nats-py ({error}): install the service with `pip install 'acci[nats]'`."
        ) from None
    return await NatsTransport.connect(settings.nats)


def chosen_consumers(service: Service, names: Sequence[str]) -> list[str]:
    """The consumers to run: `names`, or every one of the service's."""
    known = sorted(service.consumers)
    unknown = [name for name in names if name not in service.consumers]
    if unknown:
        raise ConfigurationError(
            f"service {service.name!r} has no consumer {', '.join(map(repr, unknown))}; it has: "
            f"{', '.join(known) or 'none'}."
        )
    return list(names) or known


async def run_integration(
    service: Service,
    settings: Settings,
    url: str,
    mode: Mode,
    names: Sequence[str] = (),
    *,
    integration: IntegrationSettings | None = None,
) -> int:
    """Run the relays (`relay`) or the consumers (`consume`) until SIGTERM/SIGINT; 0 when they
    stopped."""
    integration = integration or IntegrationSettings()
    if mode == "relay" and not service.publishers:
        raise ConfigurationError(
            f"service {service.name!r} publishes nothing: give an event 'publish: true' or declare "
            "'integration_events:' in a domain file, then run acci-gen generate."
        )
    consumers = chosen_consumers(service, names) if mode == "consume" else []
    if mode == "consume" and not consumers:
        raise ConfigurationError(
            f"service {service.name!r} consumes nothing: declare 'consumes:' in a domain file, then run "
            "acci-gen generate."
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stores: list[PostgresEventStore] = []
    router: TenantRouter | None = None
    try:
        application = f"{service.name}-{mode}@{socket.gethostname()}"
        # A relay per database: each tenant database has a global order (and a checkpoint) of its own.
        urls = [url, *settings.tenant_databases().values()] if mode == "relay" else [url]
        for target in urls:
            await check_database(
                settings.conninfo(target, application_name=application), settings.database.connect_timeout
            )
        transport = await connect_transport(integration)
        try:
            for target in urls:
                stores.append(
                    await PostgresEventStore.open(
                        settings.conninfo(target, application_name=application),
                        connect_timeout=settings.database.connect_timeout,
                    )
                )
            runs: list[Coroutine[Any, Any, None]]
            if mode == "relay":
                runs = [
                    IntegrationRelay(store, transport, publisher, service.registry, integration).run(stop)
                    for store in stores
                    for publisher in service.publishers
                ]
            else:
                if settings.tenant_databases():
                    # Each command goes to its tenant's database; the consumers' own state (dead
                    # letters, locks) stays in the service's database.
                    router = await TenantRouter.open(
                        settings, url, application_name=application, projections=service.projections
                    )
                commands = router.event_store if router is not None else None
                runs = [
                    IntegrationConsumer(
                        stores[0],
                        transport,
                        service.consumers[name],
                        integration,
                        name=name,
                        commands=commands,
                    ).run(stop)
                    for name in consumers
                ]
            log.info("%s: %s started (%d)", service.name, mode, len(runs))
            freeze_startup_objects()  # full collections then skip them (see acci._gcpause)
            await _until_one_fails(runs, stop)
        finally:
            await transport.close()
    finally:
        if router is not None:
            await router.close()
        for store in stores:
            await store.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


async def _until_one_fails(runs: list[Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
    """Run them together; when one raises, stop the others and raise its error."""
    tasks = [asyncio.ensure_future(run) for run in runs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def replay_consumer_dead_letters(
    service: Service, url: str, name: str, *, integration: IntegrationSettings | None = None
) -> int:
    """Handle a consumer's dead letters again, in order; 1 when some fail again."""
    integration = integration or IntegrationSettings()
    chosen_consumers(service, [name])
    async with await PostgresEventStore.open(url) as store:
        consumer = IntegrationConsumer(store, None, service.consumers[name], integration, name=name)
        result = await consumer.replay_dead_letters()
    print(f"{name}: {result.replayed} dead letter(s) replayed, {len(result.failed)} failed again.")
    for letter in result.failed:
        print(f"  {letter.subject}: {letter.error}")
    return 1 if result.failed else 0
