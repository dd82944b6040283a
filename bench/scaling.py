"""The figures of docs/scaling.md: what one primary, one streaming replica and tenant routing do
on this machine, each next to raw psycopg doing the same work in the same run.

    python -m bench.scaling [--seconds 5] [--events 50000] [--json PATH]

It starts a PostgreSQL primary and a streaming replica of its own (tests/runtime/replication.py:
initdb, pg_basebackup; own ports and directories, removed afterwards; PostgreSQL's default
durability settings), so that nothing else on the machine's shared server holds back the
horizon, and measures, in this order:

- appends/s: 32 writers in one process, one UserCreated event per append to a new stream, for
  `--seconds`: ACCI (coalesced, one store), ACCI through a TenantRouter over three databases of
  the same server (the cost of routing, not more capacity: one server), raw psycopg (16
  connections, one INSERT and commit per event);
- catch-up events/s: the identity domain's UserViewProjection over `--events` events, pages of
  500: ACCI's ProjectionRunner, and raw psycopg reading the same pages and `executemany`-ing the
  same rows with the checkpoint in one transaction per page;
- queries/s: 8 clients reading a user by id for `--seconds`: ACCI's generated query on the
  primary, on the replica, and raw psycopg on the replica (8 connections);
- replica lag: 300 appends, one at a time: from the append's return until the replica holds the
  event (polled every 0.5 ms), p50 and p99;
- read-your-writes: 300 times, a command on the primary, then its query on the replica with the
  command's position (a runner polling every 20 ms keeps the read model): the query's latency,
  and how often the same query without the position missed the write;
- a tenant move: a tenant of `--events` / 5 events copied to another database, events/s.

Figures vary with the machine's load (2 cores shared with other work): compare them as ratios
within one run. Nothing asserts on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from acci import NO_STREAM, Command, CommandMetadata, NewEvent, PostgresEventStore, StreamId, open_store
from acci.database import with_database
from acci.migrations import migrate, runtime_migrations
from acci.projections import ProjectionRunner, RunnerSettings
from acci.projections.consistency import holds_position
from acci.settings import load_settings
from acci.tenants import DEFAULT, TenantRouter
from acci.tenants.moves import move_tenant
from identity.commands import UpdateUser  # type: ignore[import-not-found, unused-ignore]
from identity.events import UserCreated  # type: ignore[import-not-found, unused-ignore]
from identity.handlers import UpdateUserHandler  # type: ignore[import-not-found, unused-ignore]
from identity.projections import UserViewProjection  # type: ignore[import-not-found, unused-ignore]
from identity.queries import IdentityQueries  # type: ignore[import-not-found, unused-ignore]
from identity.service import migrations as identity_migrations  # type: ignore[import-not-found, unused-ignore]
from psycopg import sql

from bench.people import Person, person
from tests.runtime.replication import Replicated, replicated_server

WRITERS = 32
RAW_CONNECTIONS = 16
READERS = 8
PAGE = 500
SAMPLES = 300

_RAW_SCHEMA = """
CREATE SCHEMA bench_raw;
CREATE TABLE bench_raw.events (LIKE acci.events INCLUDING ALL);
CREATE TABLE bench_raw.user_view (LIKE public.user_view INCLUDING ALL);
CREATE TABLE bench_raw.checkpoints (LIKE acci.checkpoints INCLUDING ALL);
INSERT INTO bench_raw.checkpoints (name) VALUES ('user_view');
"""
_RAW_APPEND = """
INSERT INTO bench_raw.events (id, tenant_id, aggregate_type, aggregate_id, version, event_type,
                              schema_version, data, correlation_id)
VALUES (%s, %s, 'User', %s, 1, 'UserCreated', 1, %s, %s)
"""
_RAW_PAGE = """
SELECT transaction_id::text::bigint, global_position, tenant_id, data->>'user_id', data->>'email',
       data->>'name', "timestamp"
  FROM acci.events
 WHERE (transaction_id, global_position) > (%s::text::xid8, %s) AND event_type = 'UserCreated'
   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY transaction_id, global_position LIMIT %s
"""
_RAW_ROW = (
    "INSERT INTO bench_raw.user_view (tenant_id, id, email, name, status, created_at) "
    "VALUES (%s, %s, %s, %s, 'active', %s)"
)
_RAW_CHECKPOINT = """
UPDATE bench_raw.checkpoints SET transaction_id = %s::text::xid8, global_position = %s
 WHERE name = 'user_view'
"""
_RAW_GET = """
SELECT tenant_id, id, email, name, status, created_at FROM public.user_view WHERE tenant_id = %s AND id = %s
"""


def _event(p: Person) -> NewEvent:
    return NewEvent.of(UserCreated(user_id=p.user_id, email=p.email, name=p.name, created_by=p.created_by))


async def _for(seconds: float, workers: int, work: Callable[[int, int], Awaitable[None]]) -> float:
    """Run `work(worker, n)` in `workers` tasks for `seconds`; operations per second."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal done
        n = 0
        while time.perf_counter() < deadline:
            await work(index, n)
            n += 1
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return done / (time.perf_counter() - started)


async def _create(server: str, name: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server, name)
    await migrate(url, runtime_migrations() + identity_migrations())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_RAW_SCHEMA)
    return url


async def appends(urls: dict[str, str], seconds: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    run = uuid.uuid4().hex[:6]
    async with await PostgresEventStore.open(urls[DEFAULT], max_size=4) as store:

        async def direct(w: int, n: int) -> None:
            p = person(w * 1_000_000 + n)
            await store.append(StreamId(p.tenant_id, "User", f"d{run}-{w}-{n}"), [_event(p)], NO_STREAM)

        figures["ACCI, one store"] = await _for(seconds, WRITERS, direct)
    others = {name: url for name, url in urls.items() if name != DEFAULT}
    routes = {f"tenant-{i}": name for i, name in enumerate(sorted(others))}
    settings = load_settings(database={"pool_max_size": 4}, tenants={"databases": others, "routes": routes})
    async with await TenantRouter.open(settings, urls[DEFAULT]) as router:

        async def routed(w: int, n: int) -> None:
            p = person(w * 1_000_000 + n)
            stream = StreamId(f"tenant-{w % 3}", "User", f"r{run}-{w}-{n}")
            await router.event_store.append(stream, [_event(p)], NO_STREAM)

        figures["ACCI, TenantRouter over 3 databases"] = await _for(seconds, WRITERS, routed)
    connections = [
        await psycopg.AsyncConnection.connect(urls[DEFAULT], autocommit=True) for _ in range(RAW_CONNECTIONS)
    ]
    try:

        async def raw(w: int, n: int) -> None:
            p = person(w * 1_000_000 + n)
            data = json.dumps({"user_id": str(p.user_id), "email": p.email, "name": p.name})
            await connections[w].execute(
                _RAW_APPEND, [uuid.uuid4(), p.tenant_id, f"raw{run}-{w}-{n}", data, "c"]
            )

        figures["raw psycopg, 16 connections"] = await _for(seconds, RAW_CONNECTIONS, raw)
    finally:
        for conn in connections:
            await conn.close()
    return figures


async def catch_up(url: str, events: int) -> dict[str, float]:
    async with await PostgresEventStore.open(url, max_size=8) as store:
        people = [person(i) for i in range(events)]

        async def write(part: Sequence[Person]) -> None:
            for p in part:
                await store.append(StreamId(p.tenant_id, "User", str(p.user_id)), [_event(p)], NO_STREAM)

        share = -(-events // 8)
        await asyncio.gather(*(write(people[i : i + share]) for i in range(0, events, share)))
        async with store.pool.connection() as conn:
            await conn.execute("TRUNCATE public.user_view")
            await conn.execute("DELETE FROM acci.checkpoints WHERE name = 'user_view'")
        started = time.perf_counter()
        handled = await ProjectionRunner(
            store, UserViewProjection(), RunnerSettings(batch_size=PAGE)
        ).catch_up()
        acci = float(handled) / (time.perf_counter() - started)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        started = time.perf_counter()
        xid, position, raw_handled = 0, 0, 0
        while True:
            async with conn.transaction():
                rows = await (await conn.execute(_RAW_PAGE, [xid, position, PAGE])).fetchall()
                if not rows:
                    break
                async with conn.cursor() as cur:
                    await cur.executemany(_RAW_ROW, [(r[2], r[3], r[4], r[5], r[6]) for r in rows])
                xid, position = rows[-1][0], rows[-1][1]
                await conn.execute(_RAW_CHECKPOINT, [xid, position])
                raw_handled += len(rows)
        raw = raw_handled / (time.perf_counter() - started)
    if raw_handled != handled:
        raise RuntimeError(f"catch-up: ACCI handled {handled:,} events, raw psycopg {raw_handled:,}")
    return {"ACCI ProjectionRunner": acci, "raw psycopg": raw}


async def queries(
    store: PostgresEventStore, replica: str, ids: list[Person], seconds: float
) -> dict[str, float]:
    figures: dict[str, float] = {}
    on_primary = IdentityQueries(store.pool)
    on_replica = IdentityQueries.of(store)

    def reader(handler: Any) -> Callable[[int, int], Awaitable[None]]:
        async def read(w: int, n: int) -> None:
            p = ids[(w * 7919 + n) % len(ids)]
            await handler.get_user(p.tenant_id, id=p.user_id)

        return read

    figures["ACCI query, primary"] = await _for(seconds, READERS, reader(on_primary))
    figures["ACCI query, replica"] = await _for(seconds, READERS, reader(on_replica))
    connections = [await psycopg.AsyncConnection.connect(replica, autocommit=True) for _ in range(READERS)]
    try:

        async def raw(w: int, n: int) -> None:
            p = ids[(w * 7919 + n) % len(ids)]
            await (await connections[w].execute(_RAW_GET, [p.tenant_id, p.user_id], prepare=True)).fetchall()

        figures["raw psycopg, replica"] = await _for(seconds, READERS, raw)
    finally:
        for conn in connections:
            await conn.close()
    return figures


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50 ms": statistics.median(ordered) * 1000,
        "p99 ms": ordered[min(len(ordered) - 1, round(len(ordered) * 0.99))] * 1000,
        "max ms": ordered[-1] * 1000,
    }


async def replica_lag(store: PostgresEventStore) -> dict[str, float]:
    lags: list[float] = []
    async with store.read_pool.connection() as replica:
        for n in range(SAMPLES):
            p = person(5_000_000 + n)
            (recorded,) = await store.append(
                StreamId(p.tenant_id, "User", f"lag-{n}"), [_event(p)], NO_STREAM
            )
            returned = time.perf_counter()
            while not await holds_position(replica, recorded.position):  # noqa: ASYNC110 - polls the replica
                await asyncio.sleep(0.0005)
            lags.append(time.perf_counter() - returned)
    return _percentiles(lags)


async def read_your_writes(store: PostgresEventStore, ids: list[Person]) -> dict[str, float]:
    stop = asyncio.Event()
    runner = asyncio.create_task(
        ProjectionRunner(store, UserViewProjection(), RunnerSettings(poll_interval=0.02)).run(stop)
    )
    waits: list[float] = []
    missed = 0
    try:
        for n in range(SAMPLES):
            p = ids[n % len(ids)]
            name = f"renamed {n}"
            command = Command(
                UpdateUser(user_id=p.user_id, name=name),
                CommandMetadata(user_id="bench", tenant_id=p.tenant_id),
            )
            result = await UpdateUserHandler(store).handle(command)
            stale = await IdentityQueries.of(store).get_user(p.tenant_id, id=p.user_id)
            missed += stale is None or stale.name != name
            started = time.perf_counter()
            row = await IdentityQueries.of(store, position=result.position).get_user(
                p.tenant_id, id=p.user_id
            )
            waits.append(time.perf_counter() - started)
            if row is None or row.name != name:
                raise RuntimeError(f"read-your-writes: the query with the position missed the write {n}")
    finally:
        stop.set()
        await runner
    return {**_percentiles(waits), "missed without a position (%)": 100 * missed / SAMPLES}


async def move(urls: dict[str, str], events: int) -> dict[str, float]:
    others = {name: url for name, url in urls.items() if name != DEFAULT}
    settings = load_settings(tenants={"databases": others, "routes": {"moving": "b"}})
    async with await TenantRouter.open(settings, urls[DEFAULT]) as router:
        store = router.store("b")
        batch = 500
        for start in range(0, events, batch):
            stream = StreamId("moving", "User", f"m{start}")
            await store.append(stream, [_event(person(start + i)) for i in range(batch)], NO_STREAM)
        started = time.perf_counter()
        result = await move_tenant(router, "moving", "c")
        seconds = time.perf_counter() - started
    return {"events": float(result.events), "seconds": seconds, "events/s": result.events / seconds}


async def _main(servers: Replicated, args: argparse.Namespace, names: dict[str, str]) -> dict[str, Any]:
    primary = {name: await _create(servers.primary_url, names[name]) for name in (DEFAULT, "b", "c")}
    # Catch-up, queries and read-your-writes on a database of their own: its events are theirs.
    reads = await _create(servers.primary_url, names["reads"])
    report: dict[str, Any] = {"load average (1 min)": os.getloadavg()[0]}
    report["appends/s"] = await appends(primary, args.seconds)
    report["catch-up events/s"] = await catch_up(reads, args.events)
    servers.wait_for_replay(120)
    _, replica = servers.database(names["reads"])
    settings = load_settings(database={"read_url": replica, "pool_max_size": READERS})
    async with await open_store(settings, reads) as store:
        ids = [person(i) for i in range(args.events)]
        report["queries/s"] = await queries(store, replica, ids, args.seconds)
        report["replica lag"] = await replica_lag(store)
        report["read-your-writes on the replica"] = await read_your_writes(store, ids)
    report["tenant move"] = await move(primary, args.events // 5)
    report["load average (1 min), after"] = os.getloadavg()[0]
    return report


def _print(report: dict[str, Any]) -> None:
    for section, figures in report.items():
        if not isinstance(figures, dict):
            print(f"{section}: {figures:.2f}")
            continue
        print(f"\n{section}")
        first = next(iter(figures.values()))
        for name, value in figures.items():  # throughputs: as ratios to the first figure too
            ratio = f"  ({value / first:.2f}x)" if section.endswith("/s") and first else ""
            print(f"  {name:<40} {value:>12,.1f}{ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput figure (default 5)")
    parser.add_argument("--events", type=int, default=50_000, help="catch-up events (default 50,000)")
    parser.add_argument("--json", type=Path, help="also save the figures as JSON")
    args = parser.parse_args(argv)
    names = {DEFAULT: "scaling_a", "b": "scaling_b", "c": "scaling_c", "reads": "scaling_reads"}
    with replicated_server(durable=True) as servers:
        report = asyncio.run(_main(servers, args, names))
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
