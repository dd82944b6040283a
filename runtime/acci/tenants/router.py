"""Tenants across databases: which database holds a tenant, and a store that routes every call
by tenant.

The databases have names: `default` is the service's own (ACCI_DATABASE_URL), the others come
from ACCI_TENANTS__DATABASES. A tenant lives in one of them: its entry in the tenant directory
(the table acci.tenant_directory in the default database, written by `acci tenants move`), else
its route in the settings (ACCI_TENANTS__ROUTES), else `default`. A process keeps an entry for
`directory_ttl` seconds.

Each database is a complete event store with its own global order: its runners keep its read
models (`acci run` runs them per database), and a position (`CommandResult.position`) means
something only in the database of the tenant it came from. `RoutedEventStore` is an EventStore
over all of them for command handlers and repositories: every call names a tenant (a stream, a
command), and goes to that tenant's database. A write that meets a tenant being moved, or one
that moved away since the entry was read (TenantMoved, raised by the database itself), reads the
entry again and retries, for `move_wait` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Self, TypeVar
from uuid import UUID

from acci.errors import ConfigurationError, TenantMoved
from acci.events import EventMetadata, NewEvent, RecordedEvent
from acci.settings import Settings
from acci.store._pg_errors import database_errors
from acci.store.base import EventStore, InlineProjection, Snapshot, StreamAppend, StreamLoad, Waiter
from acci.store.postgres import PostgresEventStore
from acci.stores import open_store
from acci.streams import ANY, START, CommandRecord, ExpectedVersion, Position, StreamId

#: The name of the service's own database, which also holds the tenant directory.
DEFAULT = "default"

T = TypeVar("T")

_ENTRY = "SELECT database, state FROM acci.tenant_directory WHERE tenant_id = %s"


class TenantRouter:
    """The tenant databases' stores by name, and the directory that says which holds a tenant."""

    def __init__(
        self,
        stores: Mapping[str, PostgresEventStore],
        *,
        routes: Mapping[str, str] | None = None,
        directory_ttl: float = 5.0,
        move_wait: float = 30.0,
    ) -> None:
        if DEFAULT not in stores:
            raise ConfigurationError(
                f"a TenantRouter needs the {DEFAULT!r} database (it holds the directory)"
            )
        self.stores = dict(stores)
        self.routes = dict(routes or {})
        self.directory_ttl = directory_ttl
        self.move_wait = move_wait
        self._entries: dict[str, tuple[str, float]] = {}
        #: The EventStore that command handlers and repositories use: every call by tenant.
        self.event_store = RoutedEventStore(self)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        url: str,
        *,
        application_name: str = "acci",
        projections: Sequence[InlineProjection] = (),
    ) -> Self:
        """A store per database of the settings (`default` on `url`, with its read replica if
        the settings have one), and the settings' routes."""
        urls = {DEFAULT: url, **settings.tenant_databases()}
        stores: dict[str, PostgresEventStore] = {}
        try:
            for name, database_url in urls.items():
                # The read URL is the default database's replica; the others have none (yet).
                chosen = (
                    settings
                    if name == DEFAULT
                    else settings.model_copy(
                        update={"database": settings.database.model_copy(update={"read_url": None})}
                    )
                )
                stores[name] = await open_store(
                    chosen, database_url, application_name=application_name, projections=projections
                )
        except BaseException:
            for store in stores.values():
                await store.close()
            raise
        return cls(
            stores,
            routes=settings.tenants.routes,
            directory_ttl=settings.tenants.directory_ttl,
            move_wait=settings.tenants.move_wait,
        )

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def control(self) -> PostgresEventStore:
        """The default database's store: it holds the tenant directory."""
        return self.stores[DEFAULT]

    def store(self, name: str) -> PostgresEventStore:
        """The store of the database of that name."""
        try:
            return self.stores[name]
        except KeyError:
            known = ", ".join(sorted(self.stores))
            raise ConfigurationError(f"no tenant database {name!r}; there are: {known}") from None

    async def database_of(self, tenant_id: str) -> str:
        """The name of the database that holds the tenant (see the module for the order)."""
        cached = self._entries.get(tenant_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        name, _ = await self.entry(tenant_id)
        self._entries[tenant_id] = (name, time.monotonic() + self.directory_ttl)
        return name

    async def entry(self, tenant_id: str) -> tuple[str, str]:
        """The tenant's database and state ('active' or 'moving'), read now."""
        with database_errors("reading the tenant directory"):
            async with self.control.pool.connection() as conn:
                rows = await (await conn.execute(_ENTRY, [tenant_id], prepare=True)).fetchall()
        if rows:
            name, state = rows[0]
            self.store(name)  # a directory entry naming a database this process does not know
            return str(name), str(state)
        return self.routes.get(tenant_id, DEFAULT), "active"

    async def store_for(self, tenant_id: str) -> PostgresEventStore:
        """The store of the tenant's database."""
        return self.store(await self.database_of(tenant_id))

    def forget(self, tenant_id: str) -> None:
        """Read the tenant's entry again at its next call (after a TenantMoved)."""
        self._entries.pop(tenant_id, None)

    async def writing(self, tenant_id: str, call: Callable[[PostgresEventStore], Awaitable[T]]) -> T:
        """`call` on the tenant's store; after TenantMoved (nothing was written), read the entry
        again and retry, for `move_wait` seconds."""
        deadline = time.monotonic() + self.move_wait
        delay = 0.02
        while True:
            try:
                return await call(await self.store_for(tenant_id))
            except TenantMoved:
                self.forget(tenant_id)
                if time.monotonic() >= deadline:
                    _, state = await self.entry(tenant_id)
                    raise TenantMoved(tenant_id, moving=state == "moving") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)


class _PollingWaiter(Waiter):
    """A subscription across databases has no one NOTIFY channel: it polls."""

    async def wait(self, max_seconds: float) -> None:
        await asyncio.sleep(max_seconds)

    async def close(self) -> None:
        return None


class RoutedEventStore(EventStore):
    """An EventStore over the router's databases: every call goes to its tenant's database."""

    def __init__(self, router: TenantRouter) -> None:
        self.router = router

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
        command_hash: str | None = None,
    ) -> list[RecordedEvent]:
        return await self.router.writing(
            stream.tenant_id,
            lambda store: store.append(
                stream,
                events,
                expected_version,
                metadata=metadata,
                command_id=command_id,
                command_type=command_type,
                command_hash=command_hash,
            ),
        )

    async def append_many(
        self,
        appends: Sequence[StreamAppend],
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
        command_hash: str | None = None,
    ) -> list[list[RecordedEvent]]:
        if not appends:
            return []
        return await self.router.writing(
            appends[0].stream.tenant_id,
            lambda store: store.append_many(
                appends,
                metadata=metadata,
                command_id=command_id,
                command_type=command_type,
                command_hash=command_hash,
            ),
        )

    async def read_stream(
        self,
        stream: StreamId,
        *,
        from_version: int = 0,
        to_version: int | None = None,
        as_of: datetime | None = None,
    ) -> list[RecordedEvent]:
        store = await self.router.store_for(stream.tenant_id)
        return await store.read_stream(stream, from_version=from_version, to_version=to_version, as_of=as_of)

    async def stream_version(self, stream: StreamId) -> int:
        return await (await self.router.store_for(stream.tenant_id)).stream_version(stream)

    async def read_all(
        self,
        after: Position = START,
        *,
        limit: int = 500,
        event_types: Sequence[str] | None = None,
        tenant_id: str | None = None,
    ) -> list[RecordedEvent]:
        if tenant_id is None:
            raise ConfigurationError(
                "the global order is per database: read it from one database's store "
                "(TenantRouter.store(name)), or name a tenant"
            )
        store = await self.router.store_for(tenant_id)
        return await store.read_all(after, limit=limit, event_types=event_types, tenant_id=tenant_id)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        await self.router.writing(snapshot.stream.tenant_id, lambda store: store.save_snapshot(snapshot))

    async def load_snapshot(self, stream: StreamId) -> Snapshot | None:
        return await (await self.router.store_for(stream.tenant_id)).load_snapshot(stream)

    async def find_command(self, tenant_id: str, command_id: UUID) -> CommandRecord | None:
        return await (await self.router.store_for(tenant_id)).find_command(tenant_id, command_id)

    async def waiter(self) -> Waiter:
        return _PollingWaiter()

    async def load_stream(
        self,
        stream: StreamId,
        *,
        schema_hash: str | None = None,
        to_version: int | None = None,
        as_of: datetime | None = None,
        command: tuple[str, UUID] | None = None,
    ) -> StreamLoad:
        store = await self.router.store_for(stream.tenant_id)
        return await store.load_stream(
            stream, schema_hash=schema_hash, to_version=to_version, as_of=as_of, command=command
        )

    async def load_streams(
        self,
        streams: Sequence[tuple[StreamId, str | None]],
        *,
        command: tuple[str, UUID] | None = None,
    ) -> list[StreamLoad]:
        if not streams:
            return []
        store = await self.router.store_for(streams[0][0].tenant_id)
        return await store.load_streams(streams, command=command)

    async def command_events(self, record: CommandRecord) -> list[RecordedEvent]:
        return await (await self.router.store_for(record.stream.tenant_id)).command_events(record)
