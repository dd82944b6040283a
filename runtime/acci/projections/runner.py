"""The projection runner: applies events to a read model in batches, each batch and its
checkpoint in one transaction, so every event takes effect exactly once even when the runner is
killed at any point.

Its pieces are separate: the locks (`_locks`), the checkpoint (`_checkpoints`), the dead letters
and the streams held back behind them (`_dead_letters`), the read-model check (`_read_model`);
this module is the batch and the loops around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import psycopg

from acci import metrics, tracing
from acci.errors import (
    AcciError,
    ConfigurationError,
    ProjectionBusy,
    ProjectionFailed,
    ProjectionHalted,
    TransientDatabaseError,
    shown,
)
from acci.events import RecordedEvent
from acci.logs import log_context
from acci.migrations import Migration
from acci.projections._checkpoints import HALTED, advance_checkpoint, read_checkpoint, set_owner, set_status
from acci.projections._dead_letters import StreamKey, held_streams, record_dead_letter, stream_key
from acci.projections._locks import (
    count_holders,
    lock_holder,
    owner_application_name,
    try_batch_lock,
    try_session_lock,
)
from acci.projections._read_model import missing_table, table_exists
from acci.projections._segments import (
    Segment,
    Split,
    check_count,
    ensure_split,
    members_key,
    process_owner,
    read_split,
)
from acci.projections.base import Connection, Projection, projection_lock_key
from acci.projections.operations import projection_status
from acci.store._connect import connect
from acci.store._pg_errors import database_errors, is_transient, translate
from acci.store.postgres import PostgresEventStore, read_all_on
from acci.streams import Position

log = logging.getLogger("acci.projections")


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    batch_size: int = 500
    #: Tries of an event whose handler fails before it goes to the dead letters.
    max_attempts: int = 3
    #: After the last try: "skip" parks the event and goes on; "halt" parks it and stops. Either
    #: way the later events of its stream are held back behind it, so that a replay applies the
    #: stream in order.
    on_poison: Literal["skip", "halt"] = "skip"
    #: Fail at once on a handler error, writing nothing (rebuilds and consistency checks).
    fail_fast: bool = False
    retry_delay: float = 0.05
    max_retry_delay: float = 5.0
    poll_interval: float = 0.5
    #: How often a standby instance tries to become the active one, and the active one checks
    #: that it still is.
    takeover_interval: float = 1.0
    #: How often a live runner refreshes its lag and dead-letter gauges (acci.metrics).
    metrics_interval: float = 5.0
    #: How long catch_up() waits while another runner holds the projection's lock before it
    #: raises ProjectionBusy (it never reports "caught up" without having looked).
    busy_timeout: float = 5.0
    #: How long catch_up() retries transient database errors (lost connections, a pool with no
    #: free connection) before it raises the last one; run() retries for as long as it runs.
    give_up_after: float = 60.0
    #: Segments to split a projection into the first time it runs, unless the projection says
    #: (`Projection.segments`). Once recorded, the split is changed only by `resplit`.
    segments: int = 1
    #: The most segments one process runs live (None: all it can claim); the others are left to
    #: other processes, and claimed when free.
    max_segments: int | None = None


@dataclass(frozen=True, slots=True)
class StepResult:
    #: Events the checkpoint moved past: applied, or parked (`parked` of them).
    handled: int
    #: True when no event was waiting (below the horizon) after this step.
    caught_up: bool
    #: Seconds to wait before the next step, when an event is being retried.
    retry_in: float | None = None
    #: True when another runner held the projection's lock: nothing was read or applied.
    busy: bool = False
    #: Events parked in this step: failed ones, and those held back behind a parked event.
    parked: int = 0

    @staticmethod
    def combine(results: Sequence[StepResult]) -> StepResult:
        """One step over several segments: caught up when all are, busy when all that did nothing
        were busy."""
        handled = sum(r.handled for r in results)
        waits = [r.retry_in for r in results if r.retry_in is not None]
        return StepResult(
            handled,
            caught_up=all(r.caught_up for r in results),
            retry_in=min(waits) if waits else None,
            busy=handled == 0 and any(r.busy for r in results),
            parked=sum(r.parked for r in results),
        )


@dataclass(frozen=True, slots=True)
class _Batch:
    start: Position
    events: list[RecordedEvent]
    #: Streams with a parked event: their events in this batch are held back behind it.
    held: dict[StreamKey, UUID]


class ProjectionRunner:
    """Runs one projection: `step()` handles one batch; `catch_up()` until nothing is left;
    `run()` keeps it live as the one active instance among all processes.

    A projection split into segments (`_segments`) has a batch per segment in each step, and
    `run()` claims free segments (up to `max_segments`), each with its own active lock, taking
    over those whose process died. `segment` binds a runner to one segment of a split that it
    works on even while a re-split pauses the others (what `resplit` uses).

    `migrations` (a service's) only serve the message when the read model's table is missing:
    it names the one that creates it.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        projection: Projection,
        settings: RunnerSettings | None = None,
        *,
        checkpoint: str | None = None,
        table_suffix: str = "",
        migrations: Sequence[Migration] = (),
        segment: Segment | None = None,
    ) -> None:
        self.store = store
        self.projection = projection
        self.settings = settings or RunnerSettings()
        self.checkpoint_name = checkpoint or projection.name
        self.table = projection.table_identifier(table_suffix)
        self._table_name = projection.table_name() + table_suffix
        self._migrations = migrations
        self._table_checked = False
        self._lock_key = projection_lock_key(self.checkpoint_name)
        self._attempts: dict[object, int] = {}
        self._fixed = segment
        self._split: Split | None = None
        configured = projection.segments or self.settings.segments
        # Scratch runners (a rebuild's, a check's) replay the whole log as one segment.
        self._configured = check_count(projection.name, configured) if checkpoint is None else 1

    # -- one batch -------------------------------------------------------------------------

    async def step(self, until: Position | None = None) -> StepResult:
        """Handle the next batch (events up to `until` when given), of each segment."""
        if self._fixed is not None:
            return await self._step(self._fixed, until)
        segments = await self.segments()
        results = [await self._step(segment, until) for segment in segments]
        return StepResult.combine(results)

    async def segments(self) -> list[Segment]:
        """The segments of the projection as recorded (recording the configured split the first
        time); read again after a re-split."""
        if self._split is None:
            with database_errors(f"reading the split of {shown(self.projection.name)}"):
                async with self.store.pool.connection() as conn:
                    self._split = await ensure_split(conn, self.checkpoint_name, self._configured)
        return [Segment(self.checkpoint_name, i, self._split.segments) for i in range(self._split.segments)]

    async def _step(self, segment: Segment, until: Position | None) -> StepResult:
        try:
            async with self.store.pool.connection() as conn:
                await self._check_table(conn)
                try:
                    result = await self._fast_batch(conn, segment, until)
                except _HandlerFailed:
                    with log_context(projection=self.checkpoint_name):
                        result = await self._careful_batch(conn, segment, until)
                except _SplitChanged:
                    self._split = None  # read it again next time
                    return StepResult(0, caught_up=False, busy=True)
        except psycopg.Error as error:
            raise translate(error, f"running projection {shown(str(segment))}") from error
        if result.handled:
            metrics.PROJECTION_EVENTS.labels(self.checkpoint_name).inc(result.handled)
        if result.parked:
            metrics.DEAD_LETTERS_PARKED.labels(self.checkpoint_name).inc(result.parked)
        return result

    async def _check_table(self, conn: Connection) -> None:
        """Once per runner: refuse to run without the read model's table."""
        if self._table_checked:
            return
        if not await table_exists(conn, self.projection.schema, self._table_name):
            raise self._missing_table()
        self._table_checked = True

    def _missing_table(self) -> ConfigurationError:
        return missing_table(self.projection.name, self.projection.schema, self._table_name, self._migrations)

    async def _begin(self, conn: Connection, segment: Segment, until: Position | None) -> _Batch | None:
        """Lock, read the checkpoint, the next events and the held-back streams; None when another
        instance holds the lock (or a re-split pauses the segments)."""
        shared = projection_lock_key(segment.name)
        if segment.segmented and not await try_batch_lock(conn, shared, shared=True):
            return None
        if not await try_batch_lock(conn, segment.lock_key):
            return None
        # Under the projection's lock (shared or not): a re-split cannot commit meanwhile.
        split = await read_split(conn, segment.name)
        if split.segments != segment.count:
            raise _SplitChanged
        if split.resplitting and self._fixed is None:
            return None
        where = (segment.index, segment.count)
        checkpoint = await read_checkpoint(conn, segment.name, *where)
        if checkpoint.status == HALTED:
            raise ProjectionHalted(self.checkpoint_name)
        events = await read_all_on(
            conn,
            checkpoint.position,
            limit=self.settings.batch_size,
            event_types=self.projection.event_types,
            segment=where,
        )
        if until is not None:
            events = [e for e in events if e.position <= until]
        held = (
            await held_streams(conn, self.checkpoint_name, where)
            if events and not self.settings.fail_fast
            else {}
        )
        return _Batch(checkpoint.position, events, held)

    async def _fast_batch(self, conn: Connection, segment: Segment, until: Position | None) -> StepResult:
        async with conn.transaction():
            batch = await self._begin(conn, segment, until)
            if batch is None:
                return StepResult(0, caught_up=False, busy=True)
            if not batch.events:
                return StepResult(0, caught_up=True)
            ready = [e for e in batch.events if stream_key(e) not in batch.held]
            with tracing.projection_batch(self.checkpoint_name, ready):
                try:
                    # Pipeline mode: the batch's statements go out without waiting for each reply.
                    async with conn.pipeline():
                        await self.projection.apply_batch(conn, self.table, ready)
                except Exception as error:
                    if is_transient(error):
                        raise
                    raise _HandlerFailed from error
            for event in batch.events:
                behind = batch.held.get(stream_key(event))
                if behind is not None:
                    await self._hold_back(conn, event, behind)
            await self._advance(conn, segment, batch.start, batch.events[-1].position)
        return StepResult(
            len(batch.events),
            caught_up=len(batch.events) < self.settings.batch_size,
            parked=len(batch.events) - len(ready),
        )

    async def _careful_batch(self, conn: Connection, segment: Segment, until: Position | None) -> StepResult:
        """The batch again, one savepoint per event, to find and park the failing event."""
        halted: str | None = None
        retry_in: float | None = None
        handled = parked = 0
        async with conn.transaction():
            batch = await self._begin(conn, segment, until)
            if batch is None:
                return StepResult(0, caught_up=False, busy=True)
            held = dict(batch.held)
            done = batch.start
            for event in batch.events:
                key = stream_key(event)
                # Each line about this event (a retry, a dead letter, a halt) says which it is.
                with log_context(position=event.position, stream=event.stream):
                    if key in held:
                        await self._hold_back(conn, event, held[key])
                        done, handled, parked = event.position, handled + 1, parked + 1
                        continue
                    try:
                        async with conn.transaction():  # a savepoint
                            await self.projection.apply(conn, self.table, event)
                    except Exception as error:
                        if is_transient(error):
                            raise
                        if isinstance(error, psycopg.errors.UndefinedTable):
                            self._table_checked = False
                            raise self._missing_table() from error
                        where = f"{event.event_type} {event.id} at {event.position} ({event.stream})"
                        if self.settings.fail_fast:
                            raise ProjectionFailed(self.projection.name, where, str(error)) from error
                        attempts = self._attempts.get(event.id, 0) + 1
                        self._attempts[event.id] = attempts
                        if attempts < self.settings.max_attempts:
                            retry_in = min(
                                self.settings.retry_delay * 2 ** (attempts - 1), self.settings.max_retry_delay
                            )
                            log.warning(
                                "%s failed on %s (try %d): %s", self.projection.name, where, attempts, error
                            )
                            break
                        del self._attempts[event.id]
                        await record_dead_letter(conn, self.checkpoint_name, event, error, attempts)
                        log.error(
                            "%s parked %s after %d tries: %s", self.projection.name, where, attempts, error
                        )
                        # The dead letter holds the event now, and its stream's later events wait
                        # behind it: the checkpoint passes it, so only a replay ever applies it (once).
                        held[key] = event.id
                        done, handled, parked = event.position, handled + 1, parked + 1
                        if self.settings.on_poison == "halt":
                            await set_status(conn, self.checkpoint_name, HALTED)
                            log.error("%s halted at %s", self.projection.name, where)
                            halted = where
                            break
                        continue
                    done = event.position
                    handled += 1
            if done != batch.start:
                await self._advance(conn, segment, batch.start, done)
        if halted is not None:
            raise ProjectionHalted(self.checkpoint_name, f"stopped at {halted}")
        return StepResult(
            handled,
            caught_up=retry_in is None and len(batch.events) < self.settings.batch_size,
            retry_in=retry_in,
            parked=parked,
        )

    async def _hold_back(self, conn: Connection, event: RecordedEvent, behind: UUID) -> None:
        await record_dead_letter(
            conn,
            self.checkpoint_name,
            event,
            f"not tried: held back behind event {behind} of the same stream, which is parked; "
            "replaying the dead letters applies both, in order",
            0,
            behind=behind,
        )
        with log_context(projection=self.checkpoint_name, position=event.position, stream=event.stream):
            log.warning(
                "%s held back %s %s behind %s", self.projection.name, event.event_type, event.id, behind
            )

    async def _advance(self, conn: Connection, segment: Segment, start: Position, end: Position) -> None:
        if not await advance_checkpoint(conn, segment.name, start, end, segment.index):
            # Cannot happen while the advisory lock is held; if it does, write nothing.
            raise TransientDatabaseError(
                f"the checkpoint of {shown(self.checkpoint_name)} moved under a running batch; the batch "
                "was rolled back and will be retried."
            )

    # -- loops -------------------------------------------------------------------------------

    async def catch_up(
        self, *, until: Position | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Handle batches until no event is waiting; return how many were handled (applied, or
        parked as dead letters).

        Transient database errors are retried with backoff for up to `give_up_after` seconds.
        While another runner holds the projection's lock it waits, up to `busy_timeout` seconds,
        then raises ProjectionBusy: it returns only once it has seen that nothing is waiting.
        """
        with log_context(projection=self.checkpoint_name):
            return await self._catch_up(until, progress)

    async def _catch_up(self, until: Position | None, progress: Callable[[int], None] | None) -> int:
        total = 0
        backoff = _Backoff(self.settings)
        busy_since: float | None = None
        while True:
            try:
                result = await self.step(until)
            except TransientDatabaseError as error:
                if backoff.failing_for() >= self.settings.give_up_after:
                    raise
                delay = backoff.next()
                log.warning("%s: %s; retrying in %.2fs", self.projection.name, error, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if result.busy:
                busy_since = busy_since or time.monotonic()
                if time.monotonic() - busy_since >= self.settings.busy_timeout:
                    raise ProjectionBusy(
                        self.checkpoint_name, self.settings.busy_timeout, await self._holder()
                    )
                await asyncio.sleep(self.settings.retry_delay)
                continue
            busy_since = None
            total += result.handled
            if progress and result.handled:
                progress(total)
            if result.retry_in is not None:
                await asyncio.sleep(result.retry_in)
            elif result.caught_up:
                return total

    async def _holder(self) -> str:
        with contextlib.suppress(psycopg.Error, AcciError):
            async with self.store.pool.connection() as conn:
                holder = await lock_holder(conn, self._lock_key)
                return str(holder) if holder else ""
        return ""

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run live until `stop` is set: become the active instance (of each segment it claims),
        catch up, then follow new events (woken by NOTIFY, polling as well). A standby takes over
        when the active one dies; a live process takes over a dead one's segments when it has
        room (`max_segments`).

        What a network does is survived: a lost connection (the one holding an active lock, the
        LISTEN connection, pooled ones) is replaced, transient errors are retried with backoff for
        as long as it runs, and a runner that lost its lock becomes a standby again.
        """
        with log_context(projection=self.checkpoint_name):
            await self._run(stop or asyncio.Event())

    async def _run(self, stop: asyncio.Event) -> None:
        backoff = _Backoff(self.settings)
        while not stop.is_set():
            try:
                async with self.store.pool.connection() as conn:
                    await self._check_table(conn)
                segments = await self.segments()
                await self._claim_and_follow(stop, segments, backoff)
            except (TransientDatabaseError, psycopg.OperationalError) as error:
                delay = backoff.next()
                log.warning("%s: %s; retrying in %.2fs", self.projection.name, error, delay)
                await _sleep_or_stop(stop, delay)

    async def _claim_and_follow(
        self, stop: asyncio.Event, segments: list[Segment], backoff: _Backoff
    ) -> None:
        """Claim free segments of this split and follow each in a task of its own, until stopped
        or until the split changes (then return: the caller reads it again).

        A process runs at most its fair share of a split projection's segments (the segments
        divided among the processes running it, rounded up; and at most `max_segments`): when
        another process joins, it gives one back per round for the newcomer to claim."""
        released = asyncio.Event()  # ends every segment task
        tasks: dict[int, asyncio.Task[None]] = {}
        given_back: dict[int, asyncio.Event] = {}
        claimer: Connection | None = None
        member: Connection | None = None
        try:
            while not stop.is_set():
                for index, task in list(tasks.items()):
                    if not task.done():
                        continue
                    del tasks[index], given_back[index]
                    error = task.exception()
                    if isinstance(error, TransientDatabaseError | psycopg.OperationalError):
                        log.warning("%s: %s; standing by", segments[index], error)
                    elif error is not None:
                        raise error
                if self._split is None:  # a batch saw another split
                    return
                limit = self.settings.max_segments or len(segments)
                if len(segments) > 1:
                    member = member or await self._join(segments[0])
                    processes = await count_holders(member, members_key(segments[0].name))
                    limit = min(limit, -(-len(segments) // max(processes, 1)))
                    running = [i for i in tasks if not given_back[i].is_set()]
                    if len(running) > limit:  # another process joined: give one back
                        given_back[max(running)].set()
                for segment in segments:
                    if len(tasks) >= limit:
                        break
                    if segment.index in tasks:
                        continue
                    claimer = claimer or await connect(
                        self.store.conninfo, application_name=owner_application_name()
                    )
                    if await try_session_lock(claimer, segment.active_key):
                        leader, claimer = claimer, None
                        backoff.reset()
                        given_back[segment.index] = asyncio.Event()
                        lead = self._lead(segment, leader, _Stop(stop, released, given_back[segment.index]))
                        tasks[segment.index] = asyncio.create_task(lead)
                await _Stop(stop).sleep(self.settings.takeover_interval)
                if self._split is None or await self._current_split() != len(segments):
                    self._split = None
                    return
        finally:
            released.set()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            for conn in (claimer, member):
                if conn is not None:
                    await conn.close()

    async def _join(self, segment: Segment) -> Connection:
        """A connection holding the projection's member lock (shared): how the processes running
        a split projection count each other."""
        member = await connect(self.store.conninfo, application_name=owner_application_name())
        try:
            await member.execute("SELECT pg_advisory_lock_shared(%s)", [members_key(segment.name)])
        except BaseException:
            await member.close()
            raise
        return member

    async def _current_split(self) -> int:
        with database_errors(f"reading the split of {shown(self.projection.name)}"):
            async with self.store.pool.connection() as conn:
                return (await read_split(conn, self.checkpoint_name)).segments

    async def _lead(self, segment: Segment, leader: Connection, stop: _Stop) -> None:
        """Follow one claimed segment, holding its active lock on `leader`, until stopped."""
        try:
            log.info("%s: active", segment)
            with contextlib.suppress(psycopg.Error):
                await set_owner(leader, segment.name, segment.index, process_owner())
            waiter = await self.store.waiter()
            try:
                await self._follow(stop, waiter.wait, leader, segment)
            finally:
                await waiter.close()
        finally:
            # Release the lock before closing: the server ends a closed session a moment later, and
            # until then `projections status` would still show this process as the owner.
            with contextlib.suppress(psycopg.Error):
                await leader.execute("SELECT pg_advisory_unlock_all()")
            await leader.close()

    async def _follow(
        self, stop: _Stop, wait: Callable[[float], Awaitable[None]], leader: Connection, segment: Segment
    ) -> None:
        """Step and wait until stopped, or until the connection that holds the active lock is lost
        (the server then released the lock, and a standby may already have taken over), or until
        the split changes."""
        backoff = _Backoff(self.settings)
        measured = confirmed = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now - confirmed >= self.settings.takeover_interval:
                confirmed = now
                try:
                    await leader.execute("SELECT 1")
                except psycopg.Error as error:
                    log.warning("%s: lost the active runner's lock (%s); standing by", segment, error)
                    return
            if now - measured >= self.settings.metrics_interval and segment.index == 0:
                measured = now
                with contextlib.suppress(AcciError):
                    await projection_status(self.store, self.projection)  # sets the gauges
            try:
                result = await self._step(segment, None)
            except TransientDatabaseError as error:
                delay = backoff.next()
                log.warning("%s: %s; retrying in %.2fs", segment, error, delay)
                await stop.sleep(delay)
                continue
            if self._split is None:  # the split changed: the claims are made again
                return
            backoff.reset()
            if result.retry_in is not None:
                await stop.sleep(result.retry_in)
            elif result.caught_up or result.busy:
                await stop.wait_for(wait, self.settings.poll_interval)


class _Stop:
    """Set when any of its events is: the service stopping, or the claims being given up."""

    def __init__(self, *events: asyncio.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)

    async def sleep(self, seconds: float) -> None:
        await self.wait_for(asyncio.sleep, seconds)

    async def wait_for(self, wait: Callable[[float], Awaitable[None]], seconds: float) -> None:
        """`wait(seconds)` (a sleep, a wait for a notification), ended early when set."""
        waiting = asyncio.ensure_future(wait(seconds))
        stopping = [asyncio.ensure_future(e.wait()) for e in self._events]
        await asyncio.wait({waiting, *stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, *stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Backoff:
    """Delays between tries after transient errors: retry_delay, doubling up to max_retry_delay."""

    def __init__(self, settings: RunnerSettings) -> None:
        self._settings = settings
        self._delay = settings.retry_delay
        self._since: float | None = None

    def next(self) -> float:
        """The delay before the next try (and note that a failure happened)."""
        self._since = self._since or time.monotonic()
        delay, self._delay = self._delay, min(self._delay * 2, self._settings.max_retry_delay)
        return delay

    def failing_for(self) -> float:
        """Seconds since the first failure after the last success."""
        return time.monotonic() - self._since if self._since is not None else 0.0

    def reset(self) -> None:
        self._delay, self._since = self._settings.retry_delay, None


class _HandlerFailed(Exception):
    """A handler raised in the fast path: redo the batch carefully."""


class _SplitChanged(Exception):
    """A batch found the projection split otherwise than its segment says (a re-split)."""


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
