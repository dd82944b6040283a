"""What a workload's variants share: the workload's database and the three sides' clients to it,
opened on first use and closed when the workload ends."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from acci import PostgresEventStore
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from bench.db import es_env
from bench.settings import MAX_CONNECTIONS, PAGE_SIZE, Mode

RawConnection = psycopg.Connection[DictRow]
AsyncRawConnection = psycopg.AsyncConnection[DictRow]


class EsApp(Application[Any]):
    """The eventsourcing side's application (its tables: esapp_events, esapp_snapshots)."""

    log_section_size = PAGE_SIZE


class Context:
    def __init__(self, url: str, mode: Mode, runner: asyncio.Runner) -> None:
        self.url = url
        self.mode = mode
        self.runner = runner
        #: What a workload's setup leaves for its variants.
        self.state: dict[str, Any] = {}
        self._stores: dict[tuple[int, bool, bool], PostgresEventStore] = {}
        self._raw: RawConnection | None = None
        self._apps: dict[int, EsApp] = {}
        self._recorders: dict[int, PostgresApplicationRecorder] = {}
        self._opened: list[RawConnection] = []

    # -- ACCI --------------------------------------------------------------------------------------

    async def store(
        self, pool_size: int = 1, *, notify: bool = True, coalesce: bool = True
    ) -> PostgresEventStore:
        """An ACCI store whose pool holds `pool_size` open connections (at most MAX_CONNECTIONS)."""
        pool_size = min(pool_size, MAX_CONNECTIONS)
        key = (pool_size, notify, coalesce)
        if key not in self._stores:
            self._stores[key] = await PostgresEventStore.open(
                self.url, min_size=pool_size, max_size=pool_size, notify=notify, coalesce=coalesce
            )
        return self._stores[key]

    # -- raw psycopg -------------------------------------------------------------------------------

    def raw(self) -> RawConnection:
        """The raw side's connection: autocommit, dict rows (jsonb comes back as dicts)."""
        if self._raw is None:
            self._raw = self.raw_connect()
        return self._raw

    def raw_pool(self, size: int) -> ConnectionPool[RawConnection]:
        """A pool of `size` raw connections (autocommit, dict rows), open; the caller closes it."""
        pool = ConnectionPool(
            self.url,
            min_size=size,
            max_size=size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            connection_class=psycopg.Connection[DictRow],
            open=True,
        )
        pool.wait()
        return pool

    def raw_connect(self) -> RawConnection:
        conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row)
        self._opened.append(conn)
        return conn

    async def raw_async_connect(self) -> AsyncRawConnection:
        """An asyncio connection (the caller closes it): a diagnostic of what asyncio itself costs."""
        return await psycopg.AsyncConnection.connect(self.url, autocommit=True, row_factory=dict_row)

    # -- eventsourcing -----------------------------------------------------------------------------

    def es_app(self, pool_size: int = 1) -> EsApp:
        """An eventsourcing Application on PostgreSQL (snapshotting enabled), its pool opened."""
        pool_size = min(pool_size, MAX_CONNECTIONS)
        if pool_size not in self._apps:
            app = EsApp(env=es_env(self.url, pool_size))
            recorder = app.recorder
            if not isinstance(recorder, PostgresApplicationRecorder):
                raise TypeError(f"expected the PostgreSQL recorder, got {recorder!r}")
            recorder.datastore.pool.open(wait=True)
            self._apps[pool_size] = app
        return self._apps[pool_size]

    def es_recorder(self, pool_size: int = 1) -> PostgresApplicationRecorder:
        """eventsourcing's PostgreSQL application recorder on a table of its own (stored_events)."""
        pool_size = min(pool_size, MAX_CONNECTIONS)
        if pool_size not in self._recorders:
            params = conninfo_to_dict(self.url)
            datastore = PostgresDatastore(
                dbname=str(params.get("dbname", "")),
                host=str(params.get("host", "127.0.0.1")),
                port=str(params.get("port", "5432")),
                user=str(params.get("user", "postgres")),
                password=str(params.get("password", "")),
                pool_size=pool_size,
            )
            recorder = PostgresApplicationRecorder(datastore)
            recorder.create_table()
            datastore.pool.open(wait=True)
            self._recorders[pool_size] = recorder
        return self._recorders[pool_size]

    # -- closing -----------------------------------------------------------------------------------

    def close(self) -> None:
        for store in self._stores.values():
            self.runner.run(store.close())
        for conn in self._opened:
            conn.close()
        for app in self._apps.values():
            app.close()
        for recorder in self._recorders.values():
            recorder.datastore.close()
