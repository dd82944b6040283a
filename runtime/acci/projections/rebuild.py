"""Rebuilds without downtime, and consistency checks, for one projection.

Both replay the log into a scratch copy of the read model (`CREATE TABLE ... (LIKE live
INCLUDING ALL)`) while the live table keeps serving reads, then finish in one short transaction
that holds the projection's lock: the live runner (or, for an inline projection, every append
of its event types) waits for that moment only. A rebuild swaps the copy in by renaming (see
`_swap`): the moment lasts milliseconds whatever the number of rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from acci.projections._checkpoints import (
    Checkpoint,
    delete_checkpoint,
    read_checkpoint,
    read_checkpoints,
    set_checkpoint,
)
from acci.projections._swap import drop_old, swap
from acci.projections.base import Connection, Projection
from acci.projections.runner import ProjectionRunner, RunnerSettings
from acci.store._pg_errors import database_errors
from acci.store.postgres import PostgresEventStore, read_all_on
from acci.streams import START, Position

log = logging.getLogger("acci.projections")

Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class ConsistencyReport:
    """Rows that differ between the live read model and a fresh replay, at the same position."""

    projection: str
    position: Position
    only_live: list[dict[str, Any]]
    only_replayed: list[dict[str, Any]]

    @property
    def consistent(self) -> bool:
        return not self.only_live and not self.only_replayed


async def rebuild(
    store: PostgresEventStore,
    projection: Projection,
    *,
    settings: RunnerSettings | None = None,
    progress: Progress | None = None,
) -> int:
    """Rebuild the read model from the start of the log; return the number of events replayed.

    A handler error stops the rebuild (fail fast) and leaves the live table as it was.
    """
    suffix = "__rebuild"
    shadow = await _replay_into_scratch(
        store, projection, suffix, until=None, settings=settings, progress=progress
    )
    with database_errors(f"swapping in the rebuilt {projection.name!r}"):
        async with store.pool.connection() as conn:
            # The planner's statistics before the table goes live, not after autovacuum's visit.
            await conn.execute(sql.SQL("ANALYZE {}").format(shadow.table))
            for attempt in range(_SWAP_TRIES):
                try:
                    await _swap_in(conn, projection, shadow, wait=attempt < _SWAP_TRIES - 1)
                    break
                except psycopg.errors.LockNotAvailable:
                    # A long read held the live table: let the readers queued behind the swap go,
                    # and try again.
                    log.warning("%s: a reader held the table; swap retried", projection.name)
                    await asyncio.sleep(_SWAP_LOCK_TIMEOUT * (attempt + 1))
            await drop_old(conn, projection)
    if progress:
        progress("swapped", 0)
    return shadow.replayed


#: Tries of the swap whose table lock gives up after _SWAP_LOCK_TIMEOUT (seconds); the last one
#: waits for as long as it takes.
_SWAP_TRIES = 5
_SWAP_LOCK_TIMEOUT = 0.5


async def _swap_in(conn: Connection, projection: Projection, shadow: _Scratch, *, wait: bool) -> None:
    """One transaction under the projection's lock: bring the scratch table up to date, make it the
    live table (by renaming, or else by copying its rows) and set the checkpoint."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [projection.lock_key()])
        position = await _finish_replay(conn, shadow, projection)
        started = time.perf_counter()
        await swap(conn, projection, shadow.suffix, lock_timeout=_SWAP_LOCK_TIMEOUT if wait else None)
        await set_checkpoint(conn, projection.name, position)
        await conn.execute(
            "UPDATE acci.dead_letters SET resolved_at = clock_timestamp() "
            "WHERE projection = %s AND resolved_at IS NULL",
            [projection.name],
        )
        await delete_checkpoint(conn, shadow.checkpoint)
    log.info(
        "%s: rebuilt table swapped in; %.1f ms under the table's lock",
        projection.name,
        (time.perf_counter() - started) * 1000,
    )


async def check_consistency(
    store: PostgresEventStore,
    projection: Projection,
    *,
    limit: int = 100,
    settings: RunnerSettings | None = None,
    progress: Progress | None = None,
) -> ConsistencyReport:
    """Replay into a scratch table and compare it with the live read model (the guide's
    "Monitoring für Inkonsistenzen"); return up to `limit` differing rows each way."""
    suffix = "__verify"
    until = None
    if not projection.inline:
        async with store.pool.connection() as conn:
            until = _lowest(await read_checkpoints(conn, projection.name))
    shadow = await _replay_into_scratch(
        store, projection, suffix, until=until, settings=settings, progress=progress
    )
    live = projection.table_identifier()
    scratch = projection.table_identifier(suffix)
    with database_errors(f"checking {projection.name!r}"):
        async with store.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", [projection.lock_key()])
            if projection.inline:
                position = await _finish_replay(conn, shadow, projection)
            else:
                # Every segment is held off by the lock: replay up to the lowest checkpoint, then
                # each segment's streams up to its own.
                checkpoints = await read_checkpoints(conn, projection.name)
                low = _lowest(checkpoints)
                await _finish_replay(conn, replace(shadow, until=low), projection)
                for checkpoint in checkpoints:
                    if checkpoint.position > low:
                        await _finish_segment(conn, shadow, projection, checkpoint, low)
                position = max((c.position for c in checkpoints), default=START)
            differences = []
            for left, right in ((live, scratch), (scratch, live)):
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    sql.SQL("SELECT * FROM {} EXCEPT SELECT * FROM {} LIMIT {}").format(
                        left, right, sql.Literal(limit)
                    )
                )
                differences.append(await cur.fetchall())
            await _drop_scratch(conn, shadow)
    return ConsistencyReport(projection.name, position, differences[0], differences[1])


@dataclass(frozen=True, slots=True)
class _Scratch:
    runner: ProjectionRunner
    checkpoint: str
    suffix: str
    table: sql.Identifier
    until: Position | None
    replayed: int


async def _replay_into_scratch(
    store: PostgresEventStore,
    projection: Projection,
    suffix: str,
    *,
    until: Position | None,
    settings: RunnerSettings | None,
    progress: Progress | None,
) -> _Scratch:
    live = projection.table_identifier()
    scratch = projection.table_identifier(suffix)
    checkpoint = projection.name + suffix
    with database_errors(f"preparing a scratch table for {projection.name!r}"):
        async with store.pool.connection() as conn, conn.transaction():
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            await conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(scratch, live))
            await set_checkpoint(conn, checkpoint, START)
    base = settings or RunnerSettings()
    runner = ProjectionRunner(
        store, projection, replace(base, fail_fast=True), checkpoint=checkpoint, table_suffix=suffix
    )
    try:
        replayed = await runner.catch_up(
            until=until, progress=(lambda n: progress("replaying", n)) if progress else None
        )
    except BaseException:
        # Leave nothing behind: the live table was never touched.
        async with store.pool.connection() as conn, conn.transaction():
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            await delete_checkpoint(conn, checkpoint)
        raise
    return _Scratch(runner, checkpoint, suffix, scratch, until, replayed)


async def _finish_replay(conn: Connection, shadow: _Scratch, projection: Projection) -> Position:
    """Inside the locked transaction: bring the scratch table up to date; return its position.

    For an inline projection every writer of its event types is held off by the lock, so all
    committed events are read; otherwise only those below the horizon, as the runner does.
    """
    position = (await read_checkpoint(conn, shadow.checkpoint)).position
    while True:
        page = await read_all_on(
            conn,
            position,
            limit=1000,
            event_types=projection.event_types,
            below_horizon=not projection.inline,
        )
        if shadow.until is not None:
            page = [e for e in page if e.position <= shadow.until]
        if not page:
            return position
        await projection.apply_batch(conn, shadow.table, page)
        position = page[-1].position


def _lowest(checkpoints: list[Checkpoint]) -> Position:
    return min((c.position for c in checkpoints), default=START)


async def _finish_segment(
    conn: Connection, shadow: _Scratch, projection: Projection, checkpoint: Checkpoint, after: Position
) -> None:
    """Apply the events of one segment's streams after `after` up to its checkpoint to the scratch
    table (a segmented projection's segments stand at different positions)."""
    position = after
    while True:
        page = await read_all_on(
            conn,
            position,
            limit=1000,
            event_types=projection.event_types,
            segment=(checkpoint.segment, checkpoint.segments),
        )
        page = [e for e in page if e.position <= checkpoint.position]
        if not page:
            return
        await projection.apply_batch(conn, shadow.table, page)
        position = page[-1].position


async def _drop_scratch(conn: Connection, shadow: _Scratch) -> None:
    await conn.execute(sql.SQL("DROP TABLE {}").format(shadow.table))
    await delete_checkpoint(conn, shadow.checkpoint)
