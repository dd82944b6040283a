"""Loading an aggregate: 10,000 events without a snapshot, and with a snapshot taken at its last
event, at 100 and at 10,000 events (with a snapshot, the load should cost the same at both)."""

from __future__ import annotations

from collections.abc import Callable

from acci import Repository
from psycopg.types.json import Jsonb

from bench.context import Context
from bench.model import AGGREGATE_TYPE, TENANT, EsUser, UserAggregate, es_user, fold_rows
from bench.runner import Run, Sample, Target, Timer, Variant, Workload
from bench.settings import SMALL_SNAPSHOT_EVENTS, STREAM_EVENTS
from bench.workloads.common import RAW_READ_STREAM, acci_fill, raw_fill

_RAW_SNAPSHOT = """
SELECT version, state FROM bench_raw.snapshots
 WHERE tenant_id = %s AND aggregate_type = %s AND aggregate_id = %s
"""
_RAW_SAVE_SNAPSHOT = """
INSERT INTO bench_raw.snapshots (tenant_id, aggregate_type, aggregate_id, version, state, schema_hash,
                                 event_timestamp)
VALUES (%s, %s, %s, %s, %s, 'bench', now())
"""


def _setup(events: int, *, snapshot: bool, reference: int = 0) -> Callable[[Context], None]:
    """Write the aggregate `agg` of `events` events on every side (and snapshot it); with `reference`,
    also ACCI's aggregate `ref` of that many events, snapshotted, to compare with in the same database."""

    def setup(ctx: Context) -> None:
        async def acci_setup() -> None:
            repository = Repository(await ctx.store(), UserAggregate)
            for aggregate_id, count in (("agg", events), ("ref", reference)):
                if count:
                    await acci_fill(ctx, aggregate_id, count)
                    if snapshot:
                        await repository.save_snapshot(await repository.load(TENANT, aggregate_id))

        ctx.runner.run(acci_setup())
        raw_fill(ctx, "agg", events)
        if snapshot:
            conn = ctx.raw()
            state = fold_rows(conn.execute(RAW_READ_STREAM, (TENANT, AGGREGATE_TYPE, "agg", 0)).fetchall())
            conn.execute(_RAW_SAVE_SNAPSHOT, (TENANT, AGGREGATE_TYPE, "agg", events, Jsonb(state)))
        app, user = ctx.es_app(), es_user(events)
        app.save(user)
        if snapshot:
            app.take_snapshot(user.id)
        ctx.state["es_id"] = user.id

    return setup


def _loads(ctx: Context, events_per_load: int | None) -> int:
    """Loads per sample: a few of the full aggregate, more of a snapshot."""
    return ctx.mode.full_loads if events_per_load else ctx.mode.snapshot_loads


def _acci(*, snapshot: bool, aggregate_id: str = "agg") -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        repository = Repository(await ctx.store(), UserAggregate)
        loads = _loads(ctx, None if snapshot else STREAM_EVENTS)
        timer = Timer()
        for _ in range(loads):
            aggregate = await repository.load(TENANT, aggregate_id, use_snapshot=snapshot)
        return timer.stop(loads if snapshot else loads * aggregate.version)

    return measure


def _raw(*, snapshot: bool) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        conn = ctx.raw()
        loads = _loads(ctx, None if snapshot else STREAM_EVENTS)
        events = 0
        timer = Timer()
        for _ in range(loads):
            state, version = None, 0
            if snapshot:
                row = conn.execute(_RAW_SNAPSHOT, (TENANT, AGGREGATE_TYPE, "agg")).fetchone()
                if row is not None:
                    state, version = row["state"], row["version"]
            rows = conn.execute(RAW_READ_STREAM, (TENANT, AGGREGATE_TYPE, "agg", version)).fetchall()
            state = fold_rows(rows, state)
            events = version + len(rows)
        return timer.stop(loads if snapshot else loads * events)

    return measure


def _es(*, snapshot: bool) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        app = ctx.es_app()
        loads = _loads(ctx, None if snapshot else STREAM_EVENTS)
        timer = Timer()
        for _ in range(loads):
            user: EsUser = app.repository.get(ctx.state["es_id"])
        return timer.stop(loads if snapshot else loads * user.version)

    return measure


_FLAT_REFERENCE = "ACCI Repository.load, snapshot at 100 events (same database)"


def _variants(*, snapshot: bool) -> list[Variant]:
    how = "with snapshot" if snapshot else "no snapshot"
    return [
        Variant("acci", f"ACCI Repository.load, {how}", _acci(snapshot=snapshot)),
        Variant("raw", f"raw SELECT + fold of dicts, {how}", _raw(snapshot=snapshot)),
        Variant("es", f"es Application repository.get, {how}", _es(snapshot=snapshot)),
    ]


WORKLOADS = [
    Workload(
        name="aggregate-load",
        title="aggregate load, 10,000 events, no snapshot",
        setup=_setup(STREAM_EVENTS, snapshot=False),
        variants=_variants(snapshot=False),
    ),
    Workload(
        name="snapshot-100",
        title="aggregate load, snapshot at 100 events",
        unit="loads/s",
        setup=_setup(SMALL_SNAPSHOT_EVENTS, snapshot=True),
        variants=_variants(snapshot=True),
    ),
    Workload(
        name="snapshot-10000",
        title="aggregate load, snapshot at 10,000 events",
        unit="loads/s",
        setup=_setup(STREAM_EVENTS, snapshot=True, reference=SMALL_SNAPSHOT_EVENTS),
        variants=[
            *_variants(snapshot=True),
            # Flatness is judged against this, interleaved in the same database: less noisy than
            # comparing with the snapshot-100 workload, which runs at another time.
            Variant("acci", _FLAT_REFERENCE, _acci(snapshot=True, aggregate_id="ref")),
        ],
        targets=(Target("flat", 1.5, _FLAT_REFERENCE),),
    ),
]
