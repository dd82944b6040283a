"""Projection catch-up split into segments: the same events applied by 1, 2 and 4 processes, each
running one segment of the projection, in the same run.

Setup writes `Mode.segment_events` events (200,000 in the full mode, 50,000 in the short) in
streams of 100 (2,000 streams in the full mode), each event one new row of a read model shaped
like `user_view` (a primary key and one more index). A sample empties the read model, records the
split (N segments, every checkpoint at the start), starts N worker processes (`python -m
bench.segment_worker`), waits until each has connected and imported everything, then times from
"go" until the last one has caught up its segment. Each worker is a `ProjectionRunner` bound to
its segment, pages of 500 (a segment reads the global order filtered to its streams, in SQL).

The ACCI figure is 4 segments; the raw column is not raw psycopg but the same runner with 1
segment (one process), so ACCI/raw is the speed-up of 4 processes over 1. "client CPU" is the
workers' CPU time summed over wall time (more than 100% when they use more than one core); the rest
of the two cores goes to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from acci import NewEvent, RecordedEvent, StreamId
from acci.projections import Projection, Statement
from psycopg import sql

from bench.context import Context
from bench.runner import Run, Sample, Timer, Variant, Workload
from bench.settings import SEGMENT_STREAM_EVENTS
from bench.workloads.common import chunks

NAME = "seg_view"
EVENT_TYPE = "SegUserCreated"
_ROOT = Path(__file__).resolve().parents[2]
_SETUP_WRITERS = 8

_TABLE = """
CREATE TABLE public.seg_view (
    tenant_id  text NOT NULL,
    id         text NOT NULL,
    email      text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX seg_view_email ON public.seg_view (tenant_id, email);
"""
_INSERT = sql.SQL("INSERT INTO {} (tenant_id, id, email, name, created_at) VALUES (%s, %s, %s, %s, %s)")


class SegView(Projection):
    """One row per event, sent as one executemany per page (the declarative path)."""

    name: ClassVar[str] = NAME
    event_types: ClassVar[Sequence[str]] = (EVENT_TYPE,)

    def statement(self, table: sql.Identifier, event: RecordedEvent) -> Statement | None:
        data = event.data
        return (
            self.query(_INSERT, table),
            (event.tenant_id, data["user_id"], data["email"], data["name"], event.timestamp),
        )


def setup(ctx: Context) -> None:
    total = ctx.mode.segment_events
    streams = total // SEGMENT_STREAM_EVENTS

    async def write() -> None:
        store = await ctx.store(_SETUP_WRITERS)

        async def writer(mine: Sequence[int]) -> None:
            for s in mine:
                events = [
                    NewEvent(
                        {"user_id": f"u{s}-{k}", "email": f"u{s}-{k}@example.com", "name": f"User {s} {k}"},
                        event_type=EVENT_TYPE,
                    )
                    for k in range(SEGMENT_STREAM_EVENTS)
                ]
                await store.append(StreamId(f"tenant{s % 5}", "Account", f"a{s}"), events)

        share = -(-streams // _SETUP_WRITERS)
        await asyncio.gather(*(writer(part) for part in chunks(list(range(streams)), share)))

    ctx.runner.run(write())
    ctx.raw().execute(_TABLE)


def _reset(ctx: Context, segments: int) -> None:
    conn = ctx.raw()
    with conn.transaction():
        conn.execute("TRUNCATE public.seg_view")
        conn.execute("DELETE FROM acci.checkpoints WHERE name = %s", [NAME])
        conn.execute(
            """
            INSERT INTO acci.projection_splits (name, segments) VALUES (%s, %s)
            ON CONFLICT (name) DO UPDATE SET segments = EXCLUDED.segments, resplitting = false
            """,
            [NAME, segments],
        )
        conn.execute(
            "INSERT INTO acci.checkpoints (name, segment, segments) "
            "SELECT %s, s, %s FROM generate_series(0, %s - 1) AS s",
            [NAME, segments, segments],
        )
    conn.execute("VACUUM ANALYZE public.seg_view")


def _catch_up(segments: int) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        _reset(ctx, segments)
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.segment_worker",
                ctx.url,
                str(index),
                str(segments),
                cwd=_ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for index in range(segments)
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None
                ready = await worker.stdout.readline()
                if ready.strip() != b"ready":
                    raise RuntimeError(f"segment worker did not start: {ready!r}")
            timer = Timer()
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(b"go\n")
                await worker.stdin.drain()
            handled, cpu = 0, 0.0
            for worker in workers:
                assert worker.stdout is not None
                _, seconds, events = (await worker.stdout.readline()).split()
                handled, cpu = handled + int(events), cpu + float(seconds)
            sample = timer.stop(handled)
            # The workers' CPU, not this waiting process's: over 100% when they use several cores.
            sample = replace(sample, cpu=cpu)
        finally:
            for worker in workers:
                if worker.returncode is None:
                    await worker.wait()
        if handled != ctx.mode.segment_events:
            raise RuntimeError(
                f"segments-{segments}: handled {handled:,}, expected {ctx.mode.segment_events:,}"
            )
        return sample

    return measure


WORKLOADS = [
    Workload(
        name="segments-catchup",
        title="projection catch-up in segments, 4 processes (1 process = raw column)",
        raw_means="not raw psycopg but the same ACCI runner with 1 segment in 1 process",
        setup=setup,
        variants=[
            Variant("acci", "ACCI 4 segments, 4 processes", _catch_up(4)),
            Variant("acci", "ACCI 2 segments, 2 processes", _catch_up(2)),
            Variant("raw", "ACCI 1 segment, 1 process", _catch_up(1)),
        ],
    )
]
