"""Concurrent writers: 4, 8, 32 and 128 writers in one process, each doing single-event transactions
to new streams, and the time of each append. ACCI's writers are asyncio tasks sharing one store, whose
appends are coalesced (concurrent appends share one statement and one commit); raw psycopg's and
eventsourcing's writers are threads, with a connection each (up to MAX_CONNECTIONS, 16: beyond that,
the threads share a pool of that many)."""

from __future__ import annotations

import asyncio
import time
import uuid

from acci import NO_STREAM, NewEvent

from bench.context import Context
from bench.model import acci_event, es_user
from bench.runner import Run, Sample, Target, Timer, Variant, Workload
from bench.settings import MAX_CONNECTIONS
from bench.workloads.common import RAW_INSERT, in_threads, payloads, raw_row, states, stored_event, stream


def _acci(writers: int, *, notify: bool = True, coalesce: bool = True) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        # Coalesced, the appends use two connections at most; alone, one per writer (up to a limit).
        store = await ctx.store(min(writers, 4) if coalesce else writers, notify=notify, coalesce=coalesce)
        models = [acci_event(i) for i in range(n)]
        tag = f"c{writers}-{int(notify)}{int(coalesce)}-{run}"
        latencies: list[float] = []

        async def writer(k: int) -> None:
            for i, model in enumerate(models):
                started = time.perf_counter()
                await store.append(stream(f"{tag}-{k}-{i}"), [NewEvent.of(model)], NO_STREAM)
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        await asyncio.gather(*(writer(k) for k in range(writers)))
        return timer.stop(n * writers, latencies)

    return measure


def _raw(writers: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        data = payloads(n)
        latencies: list[float] = []
        if writers > MAX_CONNECTIONS:
            return _raw_pooled(ctx, run, writers, n)
        conns = [ctx.raw_connect() for _ in range(writers)]

        def writer(k: int) -> None:
            conn = conns[k]
            for i in range(n):
                started = time.perf_counter()
                conn.execute(RAW_INSERT, raw_row(f"c{writers}-{run}-{k}-{i}", 1, data[i]))
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        in_threads(writers, writer)
        sample = timer.stop(n * writers, latencies)
        for conn in conns:
            conn.close()
        return sample

    return measure


def _raw_pooled(ctx: Context, run: int, writers: int, n: int) -> Sample:
    """More threads than connections: each transaction takes a connection from a pool."""
    data = payloads(n)
    latencies: list[float] = []
    with ctx.raw_pool(MAX_CONNECTIONS) as pool:

        def writer(k: int) -> None:
            for i in range(n):
                started = time.perf_counter()
                with pool.connection() as conn:
                    conn.execute(RAW_INSERT, raw_row(f"c{writers}-{run}-{k}-{i}", 1, data[i]))
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        in_threads(writers, writer)
        return timer.stop(n * writers, latencies)


def _raw_async(writers: int) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        conns = [await ctx.raw_async_connect() for _ in range(min(writers, MAX_CONNECTIONS))]
        data = payloads(n)

        async def writer(k: int) -> None:
            conn = conns[k % len(conns)]
            for i in range(n):
                # Tasks sharing a connection take turns (psycopg's connection lock).
                await conn.execute(RAW_INSERT, raw_row(f"ca{writers}-{run}-{k}-{i}", 1, data[i]))

        timer = Timer()
        await asyncio.gather(*(writer(k) for k in range(writers)))
        sample = timer.stop(n * writers)
        for conn in conns:
            await conn.close()
        return sample

    return measure


def _es_recorder(writers: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        recorder, data = ctx.es_recorder(writers), states(n)
        latencies: list[float] = []

        def writer(k: int) -> None:
            for state in data:
                started = time.perf_counter()
                recorder.insert_events([stored_event(uuid.uuid4(), 1, state)])
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        in_threads(writers, writer)
        return timer.stop(n * writers, latencies)

    return measure


def _es_app(writers: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        app = ctx.es_app(writers)
        users = [[es_user(1, i) for i in range(n)] for _ in range(writers)]

        def writer(k: int) -> None:
            for user in users[k]:
                app.save(user)

        timer = Timer()
        in_threads(writers, writer)
        return timer.stop(n * writers)

    return measure


def concurrent(writers: int, targets: tuple[Target, ...]) -> Workload:
    return Workload(
        name=f"concurrent-{writers}",
        title=f"{writers} concurrent writers, 1 event per transaction",
        variants=[
            Variant("acci", f"ACCI append, {writers} asyncio tasks, coalesced", _acci(writers)),
            Variant("acci", "ACCI append, coalesce=False (diagnostic)", _acci(writers, coalesce=False)),
            Variant("acci", "ACCI append, notify=False (diagnostic)", _acci(writers, notify=False)),
            Variant("raw", f"raw INSERT, {writers} threads", _raw(writers)),
            Variant("raw", f"raw INSERT, {writers} asyncio tasks", _raw_async(writers)),
            Variant("es", f"es recorder, {writers} threads", _es_recorder(writers)),
            Variant("es", f"es Application, {writers} threads", _es_app(writers)),
        ],
        targets=targets,
    )


WORKLOADS = [
    concurrent(4, (Target("es", 2.5), Target("raw", 0.8))),
    concurrent(8, (Target("raw", 2.0),)),
    concurrent(32, (Target("raw", 4.0),)),
    concurrent(128, (Target("raw", 4.0),)),
]
