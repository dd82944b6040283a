"""Re-splitting a projection into another number of segments while it runs, losing and doubling
nothing.

A segment's checkpoint says how far its own streams are applied; a stream moving to another
segment must continue exactly after its last applied event. So a re-split first brings every
segment to one position (stop-the-world for this projection only, and only for as long as the
slowest segment needs to catch up): it marks the split as re-splitting (live runners pause at
their next batch), applies each segment's events up to the highest checkpoint (with the runner's
own batches: dead letters and the held-back streams behave as always), then, in one transaction
holding the projection's lock exclusively (so no segment batch runs), checks that no segment has
an event left up to that position, and records the new split with every new segment's checkpoint
at it. The held-back streams need nothing: dead letters belong to their stream, and a segment finds
those of its streams by the same hash. The live runners see the new split at their next batch and
claim the new segments.
"""

from __future__ import annotations

import logging

from acci.errors import ConfigurationError, ProjectionHalted, TransientDatabaseError, shown
from acci.projections._checkpoints import HALTED, Checkpoint, read_checkpoints
from acci.projections._segments import Segment, check_count, read_split, set_resplitting, write_split
from acci.projections.base import Connection, Projection
from acci.projections.runner import ProjectionRunner, RunnerSettings
from acci.store._pg_errors import database_errors
from acci.store.postgres import PostgresEventStore
from acci.streams import START, Position

log = logging.getLogger("acci.projections")

#: Rounds of "catch every segment up, then check under the lock" before giving up: a round is
#: repeated only when a live batch that began before the pause committed past the target.
_ROUNDS = 10

_EVENTS_LEFT = """
SELECT EXISTS (
    SELECT FROM acci.events
     WHERE event_type = ANY(%(types)s::text[])
       AND (transaction_id, global_position) > (%(from_xid)s::text::xid8, %(from_position)s)
       AND (transaction_id, global_position) <= (%(to_xid)s::text::xid8, %(to_position)s)
       AND (%(segments)s::integer = 1
            OR acci.stream_segment(tenant_id, aggregate_type, aggregate_id, %(segments)s::integer)
               = %(segment)s::integer))
"""


class _NotYet(Exception):
    """A segment moved or has events left: roll back and do another round."""


async def resplit(
    store: PostgresEventStore,
    projection: Projection,
    segments: int,
    *,
    settings: RunnerSettings | None = None,
) -> int:
    """Split `projection` into `segments` (more or fewer than now); return the number of events
    applied on the way (to bring the segments to one position). Runs while its live runners run."""
    check_count(projection.name, segments)
    if projection.inline:
        raise ConfigurationError(
            f"projection {shown(projection.name)} is inline (applied with each append): it has no "
            "runner and no segments."
        )
    name = projection.name
    applied = 0
    with database_errors(f"re-splitting {shown(name)}"):
        async with store.pool.connection() as conn:
            if (await read_split(conn, name)).segments == segments and not await _unrecorded(conn, name):
                return 0
            await set_resplitting(conn, name, True)
        try:
            for _ in range(_ROUNDS):
                async with store.pool.connection() as conn:
                    split = await read_split(conn, name)
                    target = _highest(await read_checkpoints(conn, name))
                for index in range(split.segments):
                    runner = ProjectionRunner(
                        store, projection, settings, segment=Segment(name, index, split.segments)
                    )
                    applied += await runner.catch_up(until=target)
                try:
                    async with store.pool.connection() as conn, conn.transaction():
                        await _switch(conn, projection, split.segments, segments)
                except _NotYet:
                    continue
                log.info("%s: split into %d segment(s) (was %d)", name, segments, split.segments)
                return applied
        finally:
            async with store.pool.connection() as conn:
                await conn.execute(
                    "UPDATE acci.projection_splits SET resplitting = false WHERE name = %s", [name]
                )
    raise TransientDatabaseError(
        f"could not bring the segments of {shown(name)} to one position in {_ROUNDS} rounds; try again."
    )


async def _unrecorded(conn: Connection, name: str) -> bool:
    cur = await conn.execute("SELECT NOT EXISTS (SELECT FROM acci.projection_splits WHERE name = %s)", [name])
    row = await cur.fetchone()
    return bool(row and row[0])


async def _switch(conn: Connection, projection: Projection, old: int, new: int) -> None:
    """Under the projection's lock: check that every segment is at the target, then record the
    new split there."""
    name = projection.name
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", [projection.lock_key()])
    if (await read_split(conn, name)).segments != old:
        raise _NotYet  # another re-split came first
    checkpoints = await read_checkpoints(conn, name)
    halted = [c for c in checkpoints if c.status == HALTED]
    if halted:
        raise ProjectionHalted(
            name, "replay its dead letters (`acci dead-letters replay`) before re-splitting"
        )
    target = _highest(checkpoints)
    for checkpoint in checkpoints:
        if checkpoint.position < target and await _events_left(conn, projection, checkpoint, target):
            raise _NotYet
    await conn.execute(
        """
        UPDATE acci.checkpoints SET transaction_id = %s::text::xid8, global_position = %s,
               updated_at = clock_timestamp()
         WHERE name = %s
        """,
        [target.transaction_id, target.global_position, name],
    )
    await write_split(conn, name, new)


async def _events_left(
    conn: Connection, projection: Projection, checkpoint: Checkpoint, target: Position
) -> bool:
    cur = await conn.execute(
        _EVENTS_LEFT,
        {
            "types": list(projection.event_types),
            "from_xid": checkpoint.position.transaction_id,
            "from_position": checkpoint.position.global_position,
            "to_xid": target.transaction_id,
            "to_position": target.global_position,
            "segment": checkpoint.segment,
            "segments": checkpoint.segments,
        },
    )
    row = await cur.fetchone()
    return bool(row and row[0])


def _highest(checkpoints: list[Checkpoint]) -> Position:
    return max((c.position for c in checkpoints), default=START)
