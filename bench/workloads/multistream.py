"""Atomic appends to two streams (a transfer): one writer, and 8 writers in one process, each
transaction appending one event to each of two new streams, all or nothing. ACCI's is
`append_many` (coalesced with the other writers' when they overlap); raw psycopg's one INSERT of
both rows; eventsourcing's one `insert_events` of both (its recorder writes them in one
transaction)."""

from __future__ import annotations

import asyncio
import time
import uuid

from acci import NO_STREAM, NewEvent, StreamAppend

from bench.context import Context
from bench.model import acci_event
from bench.runner import Run, Sample, Timer, Variant, Workload
from bench.workloads.common import RAW_COLUMNS, in_threads, payloads, raw_row, states, stored_event, stream

# Both rows of a transfer in one statement: one round trip, atomic.
_RAW_INSERT_TWO = (
    f"INSERT INTO bench_raw.events ({RAW_COLUMNS}) VALUES "  # noqa: S608 - constants
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _transfers(ctx: Context, writers: int) -> int:
    return ctx.mode.single_appends if writers == 1 else ctx.mode.per_writer[writers]


def _acci(writers: int, *, coalesce: bool = True, atomic: bool = True) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = _transfers(ctx, writers)
        store = await ctx.store(min(writers, 4) if coalesce else writers, coalesce=coalesce)
        models = [acci_event(i) for i in range(n)]
        tag = f"t{writers}-{int(coalesce)}{int(atomic)}-{run}"
        latencies: list[float] = []

        async def writer(k: int) -> None:
            for i, model in enumerate(models):
                source, target = stream(f"{tag}-{k}-{i}-a"), stream(f"{tag}-{k}-{i}-b")
                started = time.perf_counter()
                if atomic:
                    await store.append_many(
                        [
                            StreamAppend(source, [NewEvent.of(model)], NO_STREAM),
                            StreamAppend(target, [NewEvent.of(model)], NO_STREAM),
                        ]
                    )
                else:
                    await store.append(source, [NewEvent.of(model)], NO_STREAM)
                    await store.append(target, [NewEvent.of(model)], NO_STREAM)
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        await asyncio.gather(*(writer(k) for k in range(writers)))
        return timer.stop(2 * n * writers, latencies)

    return measure


def _raw(writers: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n = _transfers(ctx, writers)
        data = payloads(n)
        conns = [ctx.raw_connect() for _ in range(writers)]
        latencies: list[float] = []

        def writer(k: int) -> None:
            conn = conns[k]
            for i in range(n):
                started = time.perf_counter()
                rows = raw_row(f"t{writers}-{run}-{k}-{i}-a", 1, data[i]) + raw_row(
                    f"t{writers}-{run}-{k}-{i}-b", 1, data[i]
                )
                conn.execute(_RAW_INSERT_TWO, rows)
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        in_threads(writers, writer)
        sample = timer.stop(2 * n * writers, latencies)
        for conn in conns:
            conn.close()
        return sample

    return measure


def _es(writers: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n = _transfers(ctx, writers)
        recorder, data = ctx.es_recorder(writers), states(n)
        latencies: list[float] = []

        def writer(k: int) -> None:
            for state in data:
                started = time.perf_counter()
                recorder.insert_events(
                    [stored_event(uuid.uuid4(), 1, state), stored_event(uuid.uuid4(), 1, state)]
                )
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        in_threads(writers, writer)
        return timer.stop(2 * n * writers, latencies)

    return measure


def transfers(writers: int) -> Workload:
    who = "1 writer" if writers == 1 else f"{writers} concurrent writers"
    return Workload(
        name=f"transfers-{writers}",
        title=f"{who}, 1 event to each of 2 streams per transaction (atomic)",
        variants=[
            Variant("acci", "ACCI append_many" + (", coalesced" if writers > 1 else ""), _acci(writers)),
            Variant("acci", "ACCI append_many, coalesce=False (diagnostic)", _acci(writers, coalesce=False)),
            Variant("acci", "ACCI 2 appends, not atomic (reference)", _acci(writers, atomic=False)),
            Variant("raw", f"raw INSERT of both rows, {writers} thread(s)", _raw(writers)),
            Variant("es", f"es recorder insert_events of both, {writers} thread(s)", _es(writers)),
        ],
        targets=(),
    )


WORKLOADS = [transfers(1), transfers(8)]
