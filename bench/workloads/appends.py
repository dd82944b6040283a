"""Appends: one event per transaction to new streams and to one stream with an expected version,
and 10,000 events in one transaction."""

from __future__ import annotations

import uuid

from acci import NO_STREAM, NewEvent

from bench.context import Context
from bench.model import acci_event, es_user
from bench.runner import Sample, Target, Timer, Variant, Workload
from bench.settings import BATCH_EVENTS
from bench.workloads.common import (
    RAW_COPY,
    RAW_INSERT,
    payloads,
    raw_row,
    states,
    stored_event,
    stream,
)

# -- 1 event per transaction, new streams ------------------------------------------------------------


async def acci_new_streams(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    store = await ctx.store()
    models = [acci_event(i) for i in range(n)]
    timer = Timer()
    for i, model in enumerate(models):
        await store.append(stream(f"new-{run}-{i}"), [NewEvent.of(model)], NO_STREAM)
    return timer.stop(n)


def raw_new_streams(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    conn, data = ctx.raw(), payloads(n)
    timer = Timer()
    for i in range(n):
        conn.execute(RAW_INSERT, raw_row(f"new-{run}-{i}", 1, data[i]))
    return timer.stop(n)


def raw_new_streams_tx(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    conn, data = ctx.raw(), payloads(n)
    timer = Timer()
    for i in range(n):
        with conn.transaction():
            conn.execute(RAW_INSERT, raw_row(f"new-tx-{run}-{i}", 1, data[i]))
    return timer.stop(n)


async def raw_async_new_streams(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    data = payloads(n)
    async with await ctx.raw_async_connect() as conn:
        timer = Timer()
        for i in range(n):
            await conn.execute(RAW_INSERT, raw_row(f"new-async-{run}-{i}", 1, data[i]))
        return timer.stop(n)


def es_recorder_new_streams(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    recorder, data = ctx.es_recorder(), states(n)
    timer = Timer()
    for state in data:
        recorder.insert_events([stored_event(uuid.uuid4(), 1, state)])
    return timer.stop(n)


def es_app_new_streams(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    app = ctx.es_app()
    users = [es_user(1, i) for i in range(n)]
    timer = Timer()
    for user in users:
        app.save(user)
    return timer.stop(n)


NEW_STREAMS = Workload(
    name="append-new-streams",
    title="1 event per transaction, new streams",
    variants=[
        Variant("acci", "ACCI append (NO_STREAM)", acci_new_streams),
        Variant("raw", "raw INSERT, autocommit", raw_new_streams),
        Variant("raw", "raw BEGIN/INSERT/COMMIT", raw_new_streams_tx),
        Variant("raw", "raw INSERT, autocommit, asyncio", raw_async_new_streams),
        Variant("es", "es recorder", es_recorder_new_streams),
        Variant("es", "es Application", es_app_new_streams),
    ],
    targets=(Target("raw", 0.7),),
)

# -- 1 event per transaction, one stream, expected version -------------------------------------------


async def acci_one_stream(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    store, target = await ctx.store(), stream(f"one-{run}")
    models = [acci_event(i) for i in range(n)]
    timer = Timer()
    for version, model in enumerate(models):
        await store.append(target, [NewEvent.of(model)], version)
    return timer.stop(n)


def raw_one_stream(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    conn, data = ctx.raw(), payloads(n)
    timer = Timer()
    # The primary key (stream, version) is what enforces the expected version.
    for version in range(1, n + 1):
        conn.execute(RAW_INSERT, raw_row(f"one-{run}", version, data[version - 1]))
    return timer.stop(n)


async def raw_async_one_stream(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    data = payloads(n)
    async with await ctx.raw_async_connect() as conn:
        timer = Timer()
        for version in range(1, n + 1):
            await conn.execute(RAW_INSERT, raw_row(f"one-async-{run}", version, data[version - 1]))
        return timer.stop(n)


def es_recorder_one_stream(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    recorder, data, originator = ctx.es_recorder(), states(n), uuid.uuid4()
    timer = Timer()
    for version, state in enumerate(data, start=1):
        recorder.insert_events([stored_event(originator, version, state)])
    return timer.stop(n)


def es_app_one_stream(ctx: Context, run: int) -> Sample:
    n = ctx.mode.single_appends
    app, data = ctx.es_app(), payloads(n)
    timer = Timer()
    user = es_user(1)
    app.save(user)
    for i in range(1, n):
        user.update(**data[i])
        app.save(user)
    return timer.stop(n)


ONE_STREAM = Workload(
    name="append-one-stream",
    title="1 event per transaction, one stream, expected version",
    variants=[
        Variant("acci", "ACCI append (expected version)", acci_one_stream),
        Variant("raw", "raw INSERT, autocommit", raw_one_stream),
        Variant("raw", "raw INSERT, autocommit, asyncio", raw_async_one_stream),
        Variant("es", "es recorder", es_recorder_one_stream),
        Variant("es", "es Application (event created in the loop)", es_app_one_stream),
    ],
    targets=(Target("raw", 0.8),),
)

# -- 10,000 events in one transaction ----------------------------------------------------------------


async def acci_batch(ctx: Context, run: int) -> Sample:
    store = await ctx.store()
    models = [acci_event(i) for i in range(BATCH_EVENTS)]
    timer = Timer()
    await store.append(stream(f"batch-{run}"), [NewEvent.of(m) for m in models], NO_STREAM)
    return timer.stop(BATCH_EVENTS)


def raw_batch_executemany(ctx: Context, run: int) -> Sample:
    conn, data = ctx.raw(), payloads(BATCH_EVENTS)
    timer = Timer()
    rows = [raw_row(f"batch-{run}", v, data[v - 1]) for v in range(1, BATCH_EVENTS + 1)]
    with conn.transaction(), conn.pipeline(), conn.cursor() as cur:
        cur.executemany(RAW_INSERT, rows)
    return timer.stop(BATCH_EVENTS)


def raw_batch_copy(ctx: Context, run: int) -> Sample:
    conn, data = ctx.raw(), payloads(BATCH_EVENTS)
    timer = Timer()
    with conn.transaction(), conn.cursor().copy(RAW_COPY) as copy:
        for version in range(1, BATCH_EVENTS + 1):
            copy.write_row(raw_row(f"batch-copy-{run}", version, data[version - 1]))
    return timer.stop(BATCH_EVENTS)


def es_recorder_batch(ctx: Context, run: int) -> Sample:
    recorder, data, originator = ctx.es_recorder(), states(BATCH_EVENTS), uuid.uuid4()
    timer = Timer()
    recorder.insert_events([stored_event(originator, v, s) for v, s in enumerate(data, start=1)])
    return timer.stop(BATCH_EVENTS)


def es_app_batch(ctx: Context, run: int) -> Sample:
    app, user = ctx.es_app(), es_user(BATCH_EVENTS)
    timer = Timer()
    app.save(user)
    return timer.stop(BATCH_EVENTS)


BATCH = Workload(
    name="append-batch",
    title="10,000 events in one transaction",
    variants=[
        Variant("acci", "ACCI append (10,000 events)", acci_batch),
        Variant("raw", "raw executemany, pipeline mode", raw_batch_executemany),
        Variant("raw", "raw COPY (reference)", raw_batch_copy),
        Variant("es", "es recorder", es_recorder_batch),
        Variant("es", "es Application", es_app_batch),
    ],
    targets=(Target("raw", 1.0),),
)

WORKLOADS = [NEW_STREAMS, ONE_STREAM, BATCH]
