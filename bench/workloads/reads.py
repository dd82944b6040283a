"""Reads: one stream of 10,000 events into typed events, and 50,000 events in the global order in
pages of 500."""

from __future__ import annotations

from typing import Any

from acci import START, NewEvent
from psycopg.rows import tuple_row

from bench.context import Context
from bench.model import AGGREGATE_TYPE, REGISTRY, TENANT, acci_event, es_user
from bench.runner import Sample, Target, Timer, Variant, Workload
from bench.settings import GLOBAL_EVENTS, GLOBAL_STREAMS, PAGE_SIZE, STREAM_EVENTS
from bench.workloads.common import (
    RAW_COPY,
    RAW_READ_STREAM,
    RAW_SELECT,
    acci_fill,
    payloads,
    raw_fill,
    raw_row,
    stream,
)

# -- one stream of 10,000 events -----------------------------------------------------------------------


def setup_stream(ctx: Context) -> None:
    ctx.runner.run(acci_fill(ctx, "reader", STREAM_EVENTS))
    raw_fill(ctx, "reader", STREAM_EVENTS)
    app, user = ctx.es_app(), es_user(STREAM_EVENTS)
    app.save(user)
    ctx.state["es_id"] = user.id


async def acci_read_typed(ctx: Context, run: int) -> Sample:
    store = await ctx.store()
    timer = Timer()
    events = REGISTRY.decode_all(await store.read_stream(stream("reader")))
    return timer.stop(len(events))


async def acci_read_records(ctx: Context, run: int) -> Sample:
    store = await ctx.store()
    timer = Timer()
    events = await store.read_stream(stream("reader"))
    return timer.stop(len(events))


def raw_read(ctx: Context, run: int) -> Sample:
    conn = ctx.raw()
    timer = Timer()
    rows = conn.execute(RAW_READ_STREAM, (TENANT, AGGREGATE_TYPE, "reader", 0)).fetchall()
    return timer.stop(len(rows))


async def raw_async_read(ctx: Context, run: int) -> Sample:
    async with await ctx.raw_async_connect() as conn:
        timer = Timer()
        rows = await (await conn.execute(RAW_READ_STREAM, (TENANT, AGGREGATE_TYPE, "reader", 0))).fetchall()
        return timer.stop(len(rows))


def es_recorder_read(ctx: Context, run: int) -> Sample:
    app = ctx.es_app()
    timer = Timer()
    stored = app.recorder.select_events(ctx.state["es_id"])
    return timer.stop(len(stored))


def es_events_read(ctx: Context, run: int) -> Sample:
    app = ctx.es_app()
    timer = Timer()
    events = [app.mapper.to_domain_event(s) for s in app.recorder.select_events(ctx.state["es_id"])]
    return timer.stop(len(events))


READ_STREAM = Workload(
    name="read-stream",
    title="read one stream of 10,000 events (typed)",
    setup=setup_stream,
    variants=[
        Variant("acci", "ACCI read_stream + EventRegistry.decode_all", acci_read_typed),
        Variant("acci", "ACCI read_stream only (RecordedEvent)", acci_read_records),
        Variant("raw", "raw SELECT, dict rows, jsonb to dict", raw_read),
        Variant("raw", "raw SELECT, asyncio", raw_async_read),
        # Typed events on both sides: ACCI's pydantic classes, eventsourcing's domain event objects.
        Variant("es", "es event objects (recorder + mapper)", es_events_read),
        Variant("es", "es recorder select_events (bytes, not decoded)", es_recorder_read),
    ],
    targets=(Target("raw", 0.7),),
)

# -- 50,000 events in the global order --------------------------------------------------------------------

_PER_STREAM = GLOBAL_EVENTS // GLOBAL_STREAMS

RAW_READ_ALL = (
    RAW_SELECT + " WHERE (transaction_id, global_position) > (%s::text::xid8, %s)"
    " ORDER BY transaction_id, global_position LIMIT %s"
)


def setup_global(ctx: Context) -> None:
    async def acci_setup() -> None:
        store = await ctx.store()
        for s in range(GLOBAL_STREAMS):
            events = [NewEvent.of(acci_event(i)) for i in range(_PER_STREAM)]
            await store.append(stream(f"global-{s}"), events, 0)

    ctx.runner.run(acci_setup())
    conn, data = ctx.raw(), payloads(_PER_STREAM)
    for s in range(GLOBAL_STREAMS):
        with conn.transaction(), conn.cursor().copy(RAW_COPY) as copy:
            for version in range(1, _PER_STREAM + 1):
                copy.write_row(raw_row(f"global-{s}", version, data[version - 1]))
    app = ctx.es_app()
    for _ in range(GLOBAL_STREAMS):
        app.save(es_user(_PER_STREAM))


async def acci_read_all(ctx: Context, run: int) -> Sample:
    store = await ctx.store()
    count, after = 0, START
    timer = Timer()
    while page := await store.read_all(after, limit=PAGE_SIZE):
        count += len(page)
        after = page[-1].position
    return timer.stop(count)


async def acci_read_all_typed(ctx: Context, run: int) -> Sample:
    store = await ctx.store()
    count, after = 0, START
    timer = Timer()
    while page := await store.read_all(after, limit=PAGE_SIZE):
        count += len(REGISTRY.decode_all(page))
        after = page[-1].position
    return timer.stop(count)


def raw_read_all(ctx: Context, run: int) -> Sample:
    conn = ctx.raw()
    count, xid, position = 0, "0", 0
    timer = Timer()
    while rows := conn.execute(RAW_READ_ALL, (xid, position, PAGE_SIZE), prepare=True).fetchall():
        count += len(rows)
        xid, position = str(rows[-1]["transaction_id"]), rows[-1]["global_position"]
    return timer.stop(count)


# What ACCI's read_all returns: JSON as text, parsed only when used; tuple rows.
RAW_READ_ALL_TEXT = RAW_READ_ALL.replace(" data,", " data::text,").replace(" metadata,", " metadata::text,")


def raw_read_all_text(ctx: Context, run: int) -> Sample:
    conn = ctx.raw()
    count, xid, position = 0, "0", 0
    timer = Timer()
    with conn.cursor(row_factory=tuple_row) as cur:
        while rows := cur.execute(RAW_READ_ALL_TEXT, (xid, position, PAGE_SIZE), prepare=True).fetchall():
            count += len(rows)
            xid, position = str(rows[-1][-2]), rows[-1][-1]
    return timer.stop(count)


def es_recorder_read_all(ctx: Context, run: int) -> Sample:
    recorder = ctx.es_app().recorder
    count, start = 0, 1
    timer = Timer()
    while notifications := recorder.select_notifications(start, PAGE_SIZE):
        count += len(notifications)
        start = notifications[-1].id + 1
    return timer.stop(count)


def es_log_read_all(ctx: Context, run: int) -> Sample:
    app = ctx.es_app()
    count, start = 0, 1
    timer = Timer()
    while notifications := app.notification_log.select(start, PAGE_SIZE):
        events: list[Any] = [app.mapper.to_domain_event(n) for n in notifications]
        count += len(events)
        start = notifications[-1].id + 1
    return timer.stop(count)


READ_ALL = Workload(
    name="read-all",
    title="read 50,000 events in global order, pages of 500",
    setup=setup_global,
    variants=[
        Variant("acci", "ACCI read_all", acci_read_all),
        Variant("acci", "ACCI read_all + EventRegistry.decode_all", acci_read_all_typed),
        Variant("raw", "raw SELECT by (transaction_id, position), dict rows", raw_read_all),
        Variant("raw", "raw SELECT, tuple rows, JSON as text (what read_all returns)", raw_read_all_text),
        Variant("es", "es recorder select_notifications", es_recorder_read_all),
        Variant("es", "es notification log + mapper", es_log_read_all),
    ],
    targets=(Target("raw", 0.7),),
)

WORKLOADS = [READ_STREAM, READ_ALL]
