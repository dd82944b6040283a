"""Concurrent writers: 4 and 8 writers, each on a connection of its own, doing single-event
transactions to new streams. ACCI's writers are asyncio tasks sharing one store whose pool has a
connection per writer; raw psycopg's and eventsourcing's are threads."""

from __future__ import annotations

import asyncio
import uuid

from acci import NO_STREAM, NewEvent

from bench.context import Context
from bench.model import acci_event, es_user
from bench.runner import Run, Sample, Target, Timer, Variant, Workload
from bench.workloads.common import RAW_INSERT, in_threads, payloads, raw_row, states, stored_event, stream


def _acci(writers: int, *, notify: bool = True) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        store = await ctx.store(writers, notify=notify)
        models = [acci_event(i) for i in range(n)]
        tag = f"c{writers}-{int(notify)}-{run}"

        async def writer(k: int) -> None:
            for i, model in enumerate(models):
                await store.append(stream(f"{tag}-{k}-{i}"), [NewEvent.of(model)], NO_STREAM)

        timer = Timer()
        await asyncio.gather(*(writer(k) for k in range(writers)))
        return timer.stop(n * writers)

    return measure


def _raw(writers: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        conns = [ctx.raw_connect() for _ in range(writers)]
        data = payloads(n)

        def writer(k: int) -> None:
            conn = conns[k]
            for i in range(n):
                conn.execute(RAW_INSERT, raw_row(f"c{writers}-{run}-{k}-{i}", 1, data[i]))

        timer = Timer()
        in_threads(writers, writer)
        sample = timer.stop(n * writers)
        for conn in conns:
            conn.close()
        return sample

    return measure


def _raw_async(writers: int) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[writers]
        conns = [await ctx.raw_async_connect() for _ in range(writers)]
        data = payloads(n)

        async def writer(k: int) -> None:
            for i in range(n):
                await conns[k].execute(RAW_INSERT, raw_row(f"ca{writers}-{run}-{k}-{i}", 1, data[i]))

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

        def writer(k: int) -> None:
            for state in data:
                recorder.insert_events([stored_event(uuid.uuid4(), 1, state)])

        timer = Timer()
        in_threads(writers, writer)
        return timer.stop(n * writers)

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
            Variant("acci", f"ACCI append, {writers} asyncio tasks", _acci(writers)),
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
    concurrent(8, ()),
]
