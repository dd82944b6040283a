"""What an operator does with projections: status and lag, dead letters, replay and resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from acci import metrics
from acci.errors import shown
from acci.projections._checkpoints import RUNNING, Checkpoint, read_checkpoint, read_checkpoints, set_status
from acci.projections._dead_letters import (
    DeadLetter,
    fail_dead_letter,
    fetch_dead_letters,
    is_unresolved,
    resolve_dead_letter,
)
from acci.projections._locks import active_lock_key, lock_holder
from acci.projections._segments import Segment
from acci.projections.base import Connection, Projection
from acci.store._pg_errors import database_errors, is_transient
from acci.store.postgres import PostgresEventStore, read_event_on
from acci.streams import Position, StreamId

# Counting a backlog stops here; the status then says "at least".
_LAG_COUNT_CAP = 1_000_000


@dataclass(frozen=True, slots=True)
class SegmentStatus:
    """One segment of a projection split into segments (`resplit`)."""

    segment: int
    segments: int
    position: Position
    lag_events: int
    lag_seconds: float
    #: The process running it live (host and pid), or None when no process holds it.
    owner: str | None


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    name: str
    #: The checkpoint (of a segmented projection: its lowest segment's).
    position: Position
    status: str
    updated_at: datetime
    #: Events of the projection's types written after its checkpoint (capped at 1,000,000; of a
    #: segmented projection: summed over its segments).
    lag_events: int
    #: Age of the oldest such event, in seconds; 0 when there is none.
    lag_seconds: float
    dead_letters: int
    #: Each segment, when the projection is split into more than one.
    segments: tuple[SegmentStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplayResult:
    replayed: int
    #: Letters whose handler failed again (their tries were counted).
    failed: list[DeadLetter]
    #: Letters not tried because an earlier letter of their stream failed again: they keep
    #: waiting behind it, so that the stream is applied in order.
    held_back: list[DeadLetter] = field(default_factory=list)


async def projection_status(store: PostgresEventStore, projection: Projection) -> ProjectionStatus:
    with database_errors(f"reading the status of {shown(projection.name)}"):
        async with store.pool.connection() as conn:
            checkpoints = await read_checkpoints(conn, projection.name) or [
                await read_checkpoint(conn, projection.name)
            ]
            parts: list[SegmentStatus] = []
            for checkpoint in checkpoints:
                lag_events, oldest = (
                    (0, None) if projection.inline else await _lag(conn, projection, checkpoint)
                )
                lag = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
                parts.append(
                    SegmentStatus(
                        checkpoint.segment,
                        checkpoint.segments,
                        checkpoint.position,
                        lag_events,
                        max(lag, 0.0),
                        await _owner(conn, checkpoint),
                    )
                )
            cur = await conn.execute(
                "SELECT count(*) FROM acci.dead_letters WHERE projection = %s AND resolved_at IS NULL",
                [projection.name],
            )
            dead = await cur.fetchone()
    lag_events = sum(p.lag_events for p in parts)
    lag_seconds = max(p.lag_seconds for p in parts)
    dead_letters = int(dead[0]) if dead else 0
    metrics.PROJECTION_LAG_EVENTS.labels(projection.name).set(lag_events)
    metrics.PROJECTION_LAG_SECONDS.labels(projection.name).set(lag_seconds)
    metrics.DEAD_LETTERS.labels(projection.name).set(dead_letters)
    lowest = min(checkpoints, key=lambda c: c.position)
    halted = [c for c in checkpoints if c.status != RUNNING]
    return ProjectionStatus(
        projection.name,
        lowest.position,
        halted[0].status if halted else lowest.status,
        max(c.updated_at for c in checkpoints),
        lag_events,
        lag_seconds,
        dead_letters,
        tuple(parts) if len(parts) > 1 else (),
    )


async def _lag(
    conn: Connection, projection: Projection, checkpoint: Checkpoint
) -> tuple[int, datetime | None]:
    """Events waiting for the checkpoint's segment (capped) and the timestamp of the oldest."""
    cur = await conn.execute(
        """
        SELECT count(*), min("timestamp") FROM (
            SELECT "timestamp" FROM acci.events
             WHERE (transaction_id, global_position) > (%s::text::xid8, %s)
               AND event_type = ANY(%s::text[])
               AND (%s::integer = 1 OR acci.stream_segment(tenant_id, aggregate_type, aggregate_id,
                                                             %s::integer) = %s::integer)
             LIMIT %s) AS pending
        """,
        [
            checkpoint.position.transaction_id,
            checkpoint.position.global_position,
            list(projection.event_types),
            checkpoint.segments,
            checkpoint.segments,
            checkpoint.segment,
            _LAG_COUNT_CAP,
        ],
    )
    row = await cur.fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


async def _owner(conn: Connection, checkpoint: Checkpoint) -> str | None:
    """The recorded owner of a segment while some session holds its active lock, else None."""
    if checkpoint.segments == 1:
        return None  # shown by active_runner(), as before segments
    key = Segment(checkpoint.name, checkpoint.segment, checkpoint.segments).active_key & 0xFFFF_FFFF_FFFF_FFFF
    cur = await conn.execute(
        """
        SELECT EXISTS (
            SELECT FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = %s AND objid = %s
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
        """,
        [key >> 32, key & 0xFFFF_FFFF],
    )
    row = await cur.fetchone()
    return (checkpoint.owner or "?") if row and row[0] else None


async def list_dead_letters(
    store: PostgresEventStore, projection: str | None = None, *, include_resolved: bool = False
) -> list[DeadLetter]:
    with database_errors("listing dead letters"):
        async with store.pool.connection() as conn:
            return await fetch_dead_letters(conn, projection, include_resolved=include_resolved)


async def replay_dead_letters(store: PostgresEventStore, projection: Projection) -> ReplayResult:
    """Apply the unresolved dead letters again in log order, each in its own transaction under the
    projection's lock.

    When one fails again, the later letters of its stream are not tried (the stream stays in
    order) while the other streams go on. Letters a live runner parks meanwhile are replayed too.
    When none is left, a halted projection runs again.
    """
    replayed = 0
    failed: list[DeadLetter] = []
    held_back: list[DeadLetter] = []
    stuck: set[StreamId] = set()
    seen: set[int] = set()
    with database_errors(f"replaying the dead letters of {shown(projection.name)}"):
        async with store.pool.connection() as conn:
            while letters := [x for x in await fetch_dead_letters(conn, projection.name) if x.id not in seen]:
                for letter in letters:
                    seen.add(letter.id)
                    if letter.stream in stuck:
                        held_back.append(letter)
                        continue
                    try:
                        await _replay(conn, projection, letter)
                    except Exception as error:
                        if is_transient(error):
                            raise
                        await fail_dead_letter(conn, letter.id, error)
                        failed.append(letter)
                        stuck.add(letter.stream)
                        continue
                    replayed += 1
            if not failed and not held_back:
                await set_status(conn, projection.name, RUNNING)
    return ReplayResult(replayed, failed, held_back)


async def _replay(conn: Connection, projection: Projection, letter: DeadLetter) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [projection.lock_key()])
        if not await is_unresolved(conn, letter.id):  # another replay was first
            return
        event = await read_event_on(conn, letter.event_id)
        if event is not None:
            async with conn.transaction():
                await projection.apply(conn, projection.table_identifier(), event)
        await resolve_dead_letter(conn, letter.id)


async def count_events(store: PostgresEventStore, projection: Projection) -> int:
    """How many events a full replay of the projection reads (for progress bars)."""
    with database_errors(f"counting the events of {shown(projection.name)}"):
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM acci.events WHERE event_type = ANY(%s::text[])",
                [list(projection.event_types)],
            )
            row = await cur.fetchone()
    return int(row[0]) if row else 0


async def active_runner(store: PostgresEventStore, projection: Projection) -> str | None:
    """Who runs the projection live: the process holding the lock `ProjectionRunner.run` takes
    ("pid 4711 on node-7"), or None when no runner holds it."""
    with database_errors(f"looking for the runner of {projection.name!r}"):
        async with store.pool.connection() as conn:
            holder = await lock_holder(conn, active_lock_key(projection.name))
    return str(holder) if holder else None
