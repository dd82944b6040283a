"""The projection runner: applies events to a read model in batches, each batch and its
checkpoint in one transaction, so every event takes effect exactly once even when the runner is
killed at any point."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import psycopg

from acci import metrics
from acci.errors import AcciError, ProjectionFailed, ProjectionHalted, TransientDatabaseError
from acci.events import RecordedEvent
from acci.projections._checkpoints import HALTED, advance_checkpoint, read_checkpoint, set_status
from acci.projections._dead_letters import record_dead_letter
from acci.projections.base import Connection, Projection, projection_lock_key
from acci.projections.operations import projection_status
from acci.store._pg_errors import translate
from acci.store.postgres import PostgresEventStore, read_all_on
from acci.streams import Position

log = logging.getLogger("acci.projections")


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    batch_size: int = 500
    #: Tries of an event whose handler fails before it goes to the dead letters.
    max_attempts: int = 3
    #: After the last try: "skip" parks the event and goes on; "halt" parks it and stops.
    on_poison: Literal["skip", "halt"] = "skip"
    #: Fail at once on a handler error, writing nothing (rebuilds and consistency checks).
    fail_fast: bool = False
    retry_delay: float = 0.05
    max_retry_delay: float = 5.0
    poll_interval: float = 0.5
    #: How often a standby instance tries to become the active one.
    takeover_interval: float = 1.0
    #: How often a live runner refreshes its lag and dead-letter gauges (acci.metrics).
    metrics_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class StepResult:
    handled: int
    #: True when no event was waiting (below the horizon) after this step.
    caught_up: bool
    #: Seconds to wait before the next step, when an event is being retried.
    retry_in: float | None = None


class ProjectionRunner:
    """Runs one projection: `step()` handles one batch; `catch_up()` until nothing is left;
    `run()` keeps it live as the one active instance among all processes."""

    def __init__(
        self,
        store: PostgresEventStore,
        projection: Projection,
        settings: RunnerSettings | None = None,
        *,
        checkpoint: str | None = None,
        table_suffix: str = "",
    ) -> None:
        self.store = store
        self.projection = projection
        self.settings = settings or RunnerSettings()
        self.checkpoint_name = checkpoint or projection.name
        self.table = projection.table_identifier(table_suffix)
        self._lock_key = projection_lock_key(self.checkpoint_name)
        self._attempts: dict[object, int] = {}

    # -- one batch -------------------------------------------------------------------------

    async def step(self, until: Position | None = None) -> StepResult:
        """Handle the next batch (events up to `until` when given)."""
        async with self.store.pool.connection() as conn:
            try:
                try:
                    result = await self._fast_batch(conn, until)
                except _HandlerFailed:
                    result = await self._careful_batch(conn, until)
            except psycopg.Error as error:
                raise translate(error, f"running projection {self.projection.name!r}") from error
        if result.handled:
            metrics.PROJECTION_EVENTS.labels(self.checkpoint_name).inc(result.handled)
        return result

    async def _begin(
        self, conn: Connection, until: Position | None
    ) -> tuple[Position, list[RecordedEvent]] | None:
        """Lock, read the checkpoint and the next events; None when another instance holds the lock."""
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [self._lock_key], prepare=True)
        locked = await cur.fetchone()
        if not locked or not locked[0]:
            return None
        checkpoint = await read_checkpoint(conn, self.checkpoint_name)
        if checkpoint.status == HALTED:
            raise ProjectionHalted(self.checkpoint_name)
        events = await read_all_on(
            conn, checkpoint.position, limit=self.settings.batch_size, event_types=self.projection.event_types
        )
        if until is not None:
            events = [e for e in events if e.position <= until]
        return checkpoint.position, events

    async def _fast_batch(self, conn: Connection, until: Position | None) -> StepResult:
        async with conn.transaction():
            begun = await self._begin(conn, until)
            if begun is None:
                return StepResult(0, caught_up=True)
            start, events = begun
            if not events:
                return StepResult(0, caught_up=True)
            try:
                # Pipeline mode: the batch's statements go out without waiting for each reply.
                async with conn.pipeline():
                    await self.projection.apply_batch(conn, self.table, events)
            except Exception as error:
                if _is_transient(error):
                    raise
                raise _HandlerFailed from error
            await self._advance(conn, start, events[-1].position)
        return StepResult(len(events), caught_up=len(events) < self.settings.batch_size)

    async def _careful_batch(self, conn: Connection, until: Position | None) -> StepResult:
        """The batch again, one savepoint per event, to find and park the failing event."""
        halted: str | None = None
        retry_in: float | None = None
        handled = 0
        async with conn.transaction():
            begun = await self._begin(conn, until)
            if begun is None:
                return StepResult(0, caught_up=True)
            start, events = begun
            done = start
            for event in events:
                try:
                    async with conn.transaction():  # a savepoint
                        await self.projection.apply(conn, self.table, event)
                except Exception as error:
                    if _is_transient(error):
                        raise
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
                    metrics.DEAD_LETTERS_PARKED.labels(self.checkpoint_name).inc()
                    log.error("%s parked %s after %d tries: %s", self.projection.name, where, attempts, error)
                    if self.settings.on_poison == "halt":
                        await set_status(conn, self.checkpoint_name, HALTED)
                        halted = where
                        break
                done = event.position
                handled += 1
            if done != start:
                await self._advance(conn, start, done)
        if halted is not None:
            raise ProjectionHalted(self.checkpoint_name, f"stopped at {halted}")
        return StepResult(
            handled, caught_up=retry_in is None and len(events) < self.settings.batch_size, retry_in=retry_in
        )

    async def _advance(self, conn: Connection, start: Position, end: Position) -> None:
        if not await advance_checkpoint(conn, self.checkpoint_name, start, end):
            # Cannot happen while the advisory lock is held; if it does, write nothing.
            raise TransientDatabaseError(
                f"the checkpoint of {self.checkpoint_name!r} moved under a running batch; the batch was "
                "rolled back and will be retried."
            )

    # -- loops -------------------------------------------------------------------------------

    async def catch_up(
        self, *, until: Position | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Handle batches until no event is waiting; return how many were handled."""
        total = 0
        delay = self.settings.retry_delay
        while True:
            try:
                result = await self.step(until)
            except TransientDatabaseError as error:
                log.warning("%s: %s; retrying in %.2fs", self.projection.name, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.max_retry_delay)
                continue
            delay = self.settings.retry_delay
            total += result.handled
            if progress and result.handled:
                progress(total)
            if result.retry_in is not None:
                await asyncio.sleep(result.retry_in)
            elif result.caught_up:
                return total

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run live until `stop` is set: become the active instance, catch up, then follow new
        events (woken by NOTIFY, polling as well). A standby takes over when the active one dies."""
        stop = stop or asyncio.Event()
        leader = await psycopg.AsyncConnection.connect(self.store.conninfo, autocommit=True)
        try:
            # A session lock: released by the server when this process or its connection dies.
            leader_key = projection_lock_key(self.checkpoint_name + "#active")
            while not stop.is_set():
                cur = await leader.execute("SELECT pg_try_advisory_lock(%s)", [leader_key])
                row = await cur.fetchone()
                if row and row[0]:
                    break
                await _sleep_or_stop(stop, self.settings.takeover_interval)
            if stop.is_set():
                return
            log.info("%s: active", self.projection.name)
            waiter = await self.store.waiter()
            try:
                await self._follow(stop, waiter.wait)
            finally:
                await waiter.close()
        finally:
            await leader.close()

    async def _follow(self, stop: asyncio.Event, wait: Callable[[float], Awaitable[None]]) -> None:
        delay = self.settings.retry_delay
        measured = 0.0
        while not stop.is_set():
            if time.monotonic() - measured >= self.settings.metrics_interval:
                measured = time.monotonic()
                with contextlib.suppress(AcciError):
                    await projection_status(self.store, self.projection)  # sets the gauges
            try:
                result = await self.step()
            except TransientDatabaseError as error:
                log.warning("%s: %s; retrying in %.2fs", self.projection.name, error, delay)
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, self.settings.max_retry_delay)
                continue
            delay = self.settings.retry_delay
            if result.retry_in is not None:
                await _sleep_or_stop(stop, result.retry_in)
            elif result.caught_up:
                waiting = asyncio.ensure_future(wait(self.settings.poll_interval))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                for task in (waiting, stopping):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


class _HandlerFailed(Exception):
    """A handler raised in the fast path: redo the batch carefully."""


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, TransientDatabaseError):
        return True
    if isinstance(error, psycopg.Error):
        return isinstance(translate(error, ""), TransientDatabaseError)
    return False


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
