"""Deadlines: commands a policy scheduled for later, kept in acci.deadlines, sent when due.

A policy's runner schedules and cancels deadlines in the transaction of its checkpoint, so each
happens once. The DeadlineRunner sends the due ones, exactly once in effect:

- it claims a deadline (pending -> firing) before sending, so that a cancel arriving meanwhile
  finds nothing pending, and sends its command under an id derived from the deadline's: a runner
  killed after sending and before settling leaves it 'firing', and the next one sends it again,
  which the command log answers as a replay;
- it sends a deadline only when its policy has handled every event of its types written before
  the deadline was due (by the events' timestamps), so that a cancelling event written in time is
  never overtaken by a policy runner that lags or is down;
- what is due is decided by a Clock the runner is given: SystemClock in a service, ManualClock in
  tests, which they advance instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from acci import metrics
from acci.commands import Command, CommandData, CommandMetadata
from acci.errors import TransientDatabaseError
from acci.events import RecordedEvent
from acci.policies._sending import Observer, Sender
from acci.policies.base import (
    Cancel,
    OnRejected,
    Policy,
    Schedule,
    deadline_command_id,
    dumped,
    loaded,
)
from acci.policies.clock import Clock, SystemClock
from acci.projections import RunnerSettings
from acci.projections._locks import active_lock_key, owner_application_name, try_session_lock
from acci.projections.base import Connection
from acci.store._connect import connect
from acci.store._pg_errors import database_errors, is_transient
from acci.store.postgres import PostgresEventStore

log = logging.getLogger("acci.policies")

_COLUMNS = """
    id, tenant_id, policy, name, key, due_at, command_type, command::text, on_rejected,
    compensation_type, compensation::text, correlation_id, scheduled_by, cancelled_by, state, outcome,
    error, attempts, scheduled_at, settled_at
"""


@dataclass(frozen=True, slots=True)
class Deadline:
    """A row of acci.deadlines."""

    id: UUID
    tenant_id: str
    policy: str
    name: str
    key: str
    due_at: datetime
    command_type: str
    command_json: str
    #: "dead_letter", "ignore" or "compensate" (with compensation_type and compensation_json).
    on_rejected: str
    compensation_type: str | None
    compensation_json: str | None
    correlation_id: str
    scheduled_by: UUID
    cancelled_by: UUID | None
    #: pending, firing (being sent), fired, cancelled or failed.
    state: str
    #: How a fired one went (ok, replayed, compensated, ignored).
    outcome: str | None
    #: Why a failed one failed.
    error: str | None
    attempts: int
    scheduled_at: datetime
    settled_at: datetime | None


# -- what a policy's runner writes, in its batch's transaction --------------------------------------


async def schedule(
    conn: Connection, policy: str, deadline: UUID, effect: Schedule, event: RecordedEvent
) -> None:
    """Store a deadline, once: a redelivered event finds it there already."""
    command_type, command_json = dumped(effect.command)
    compensation_type = compensation_json = None
    on_rejected: str
    if isinstance(effect.on_rejected, CommandData):
        compensation_type, compensation_json = dumped(effect.on_rejected)
        on_rejected = "compensate"
    else:
        on_rejected = effect.on_rejected
    await conn.execute(
        """
        INSERT INTO acci.deadlines (id, tenant_id, policy, name, key, due_at, command_type, command,
                                    on_rejected, compensation_type, compensation, correlation_id,
                                    scheduled_by)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s, %s)
        ON CONFLICT (id) DO NOTHING
        """,
        [
            deadline,
            event.tenant_id,
            policy,
            effect.deadline,
            effect.key,
            effect.due(event),
            command_type,
            command_json,
            on_rejected,
            compensation_type,
            compensation_json,
            event.metadata.correlation_id,
            event.id,
        ],
    )


async def cancel(conn: Connection, policy: str, effect: Cancel, event: RecordedEvent) -> None:
    """Cancel the pending deadlines of this name and key in the event's tenant."""
    await conn.execute(
        """
        UPDATE acci.deadlines
           SET state = 'cancelled', cancelled_by = %s, settled_at = clock_timestamp()
         WHERE tenant_id = %s AND policy = %s AND name = %s AND key = %s AND state = 'pending'
        """,
        [event.id, event.tenant_id, policy, effect.deadline, effect.key],
    )


# -- the runner ----------------------------------------------------------------------------------------


class DeadlineRunner:
    """Sends the due deadlines of `policies`: `fire_due()` once, `run()` live as the one active
    instance among all processes (a standby takes over when it dies).

    A deadline whose command is rejected goes the way its Schedule said: a compensation, ignored,
    or (dead_letter) state 'failed' with the reason, until `retry_deadlines` puts it back. A
    transient error leaves it to the next pass. Uses `settings.poll_interval`,
    `takeover_interval`, `batch_size`, `retry_delay`/`max_retry_delay` and `metrics_interval`.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        policies: Sequence[Policy],
        *,
        clock: Clock | None = None,
        settings: RunnerSettings | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.store = store
        self.policies = {policy.name: policy for policy in policies}
        self.clock = clock or SystemClock()
        self.settings = settings or RunnerSettings()
        self._senders = {p.name: Sender(store, p, observer) for p in policies}
        self._lock_key = active_lock_key("acci.deadlines:" + ",".join(sorted(self.policies)))

    async def fire_due(self) -> int:
        """Send every deadline that is due by the clock and whose policy has caught up with it; the
        number sent (fired or failed), at most `settings.batch_size` per policy."""
        now = self.clock.now()
        due: list[Deadline] = []
        with database_errors("reading the due deadlines"):
            async with self.store.pool.connection() as conn:
                for policy in self.policies.values():
                    # Only what is due before the oldest event the policy has yet to handle: that
                    # event may cancel it.
                    oldest = await _oldest_unhandled(conn, policy)
                    cur = await conn.execute(
                        f"""
                        SELECT {_COLUMNS} FROM acci.deadlines
                         WHERE policy = %s AND state IN ('pending', 'firing') AND due_at <= %s
                           AND (%s::timestamptz IS NULL OR due_at < %s::timestamptz)
                         ORDER BY due_at, id LIMIT %s
                        """,  # noqa: S608 - a constant column list
                        [policy.name, now, oldest, oldest, self.settings.batch_size],
                    )
                    due.extend(Deadline(*row) for row in await cur.fetchall())
        sent = 0
        for deadline in due:
            if await self._fire(deadline):
                sent += 1
        return sent

    async def _fire(self, deadline: Deadline) -> bool:
        """Claim, send and settle one deadline; False when it was cancelled or settled meanwhile."""
        with database_errors("claiming a deadline"):
            async with self.store.pool.connection() as conn:
                cur = await conn.execute(
                    "UPDATE acci.deadlines SET state = 'firing', attempts = attempts + 1 "
                    "WHERE id = %s AND state IN ('pending', 'firing') RETURNING id",
                    [deadline.id],
                )
                if await cur.fetchone() is None:
                    return False
        policy = self.policies[deadline.policy]
        try:
            classes = policy.command_classes()
            command = Command(
                loaded(classes, deadline.command_type, deadline.command_json),
                CommandMetadata(
                    user_id=f"deadline:{policy.name}.{deadline.name}",
                    tenant_id=deadline.tenant_id,
                    correlation_id=deadline.correlation_id,
                    timestamp=deadline.due_at,
                ),
                id=deadline_command_id(deadline.id),
            )
            on_rejected: OnRejected
            if deadline.on_rejected == "compensate":
                on_rejected = loaded(
                    classes, deadline.compensation_type or "", deadline.compensation_json or "{}"
                )
            else:
                on_rejected = "ignore" if deadline.on_rejected == "ignore" else "dead_letter"
            cause = f"deadline {deadline.name!r} ({deadline.key}) due at {deadline.due_at.isoformat()}"
            outcome = await self._senders[policy.name].send(command, on_rejected, cause)
        except Exception as error:
            if is_transient(error):
                raise
            log.error("%s: deadline %s failed: %s", policy.name, deadline.id, error)
            await self._settle(deadline, "failed", error=f"{type(error).__name__}: {error}")
            return True
        await self._settle(deadline, "fired", outcome=outcome)
        return True

    async def _settle(
        self, deadline: Deadline, state: str, *, outcome: str | None = None, error: str = ""
    ) -> None:
        with database_errors("settling a deadline"):
            async with self.store.pool.connection() as conn:
                await conn.execute(
                    "UPDATE acci.deadlines SET state = %s, outcome = %s, error = nullif(%s, ''), "
                    "settled_at = clock_timestamp() WHERE id = %s AND state = 'firing'",
                    [state, outcome, error, deadline.id],
                )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Send due deadlines until `stop` is set, as the one active runner for these policies: a
        standby waits for the active one's session lock and takes over when it dies."""
        stop = stop or asyncio.Event()
        delay = self.settings.retry_delay
        while not stop.is_set():
            try:
                leader = await self._become_active(stop)
                if leader is None:
                    return
                try:
                    await self._follow(stop, leader)
                    delay = self.settings.retry_delay
                finally:
                    await leader.close()
            except (TransientDatabaseError, psycopg.OperationalError) as error:
                log.warning("deadlines: %s; retrying in %.2fs", error, delay)
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, self.settings.max_retry_delay)

    async def _become_active(self, stop: asyncio.Event) -> Connection | None:
        leader = await connect(self.store.conninfo, application_name=owner_application_name())
        try:
            while not stop.is_set():
                if await try_session_lock(leader, self._lock_key):
                    return leader
                await _sleep_or_stop(stop, self.settings.takeover_interval)
        except BaseException:
            await leader.close()
            raise
        await leader.close()
        return None

    async def _follow(self, stop: asyncio.Event, leader: Connection) -> None:
        """Fire due deadlines every poll interval until stopped or the lock's connection is lost."""
        measured = 0.0
        while not stop.is_set():
            try:
                await leader.execute("SELECT 1")
            except psycopg.Error as error:
                log.warning("deadlines: lost the active runner's lock (%s); standing by", error)
                return
            if time.monotonic() - measured >= self.settings.metrics_interval:
                measured = time.monotonic()
                await deadline_status(self.store, list(self.policies.values()), self.clock.now())
            if await self.fire_due() == 0:
                await _sleep_or_stop(stop, self.settings.poll_interval)


async def _oldest_unhandled(conn: Connection, policy: Policy) -> datetime | None:
    """The timestamp of the oldest event of the policy's types after its checkpoint, or None when
    it has handled every event there is (a policy that never ran has handled none)."""
    cur = await conn.execute(
        """
        SELECT min(e."timestamp")
          FROM (SELECT 1) AS one
          LEFT JOIN acci.checkpoints AS c ON c.name = %(name)s
          JOIN acci.events AS e
            ON (e.transaction_id, e.global_position)
               > (coalesce(c.transaction_id, '0'::xid8), coalesce(c.global_position, 0))
         WHERE e.event_type = ANY(%(types)s::text[])
        """,
        {"types": list(policy.event_types), "name": policy.name},
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


# -- operating them ------------------------------------------------------------------------------------


async def list_deadlines(
    store: PostgresEventStore, policy: str | None = None, *, states: Sequence[str] | None = None
) -> list[Deadline]:
    """Deadlines (of one policy, in the given states), by due time."""
    with database_errors("listing deadlines"):
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                f"""
                SELECT {_COLUMNS} FROM acci.deadlines
                 WHERE (%(policy)s::text IS NULL OR policy = %(policy)s::text)
                   AND (%(states)s::text[] IS NULL OR state = ANY(%(states)s::text[]))
                 ORDER BY due_at, id
                """,  # noqa: S608 - a constant column list
                {"policy": policy, "states": list(states) if states is not None else None},
            )
            return [Deadline(*row) for row in await cur.fetchall()]


async def retry_deadlines(store: PostgresEventStore, policy: str) -> int:
    """Put a policy's failed deadlines back to pending (its runner sends them again, under the
    same command ids); how many."""
    with database_errors(f"retrying the failed deadlines of {policy!r}"):
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE acci.deadlines SET state = 'pending', settled_at = NULL "
                "WHERE policy = %s AND state = 'failed'",
                [policy],
            )
            return cur.rowcount


async def deadline_status(
    store: PostgresEventStore, policies: Sequence[Policy], now: datetime
) -> dict[str, dict[str, int]]:
    """Per policy: its pending deadlines, those of them past due at `now` (overdue: the runner is
    behind, down, or waits for its policy), and the failed ones. Sets the acci_deadlines gauges."""
    names = [policy.name for policy in policies]
    with database_errors("reading the deadlines' status"):
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                """
                SELECT policy, count(*) FILTER (WHERE state IN ('pending', 'firing')),
                       count(*) FILTER (WHERE state IN ('pending', 'firing') AND due_at < %s),
                       count(*) FILTER (WHERE state = 'failed')
                  FROM acci.deadlines WHERE policy = ANY(%s) AND state IN ('pending', 'firing', 'failed')
                 GROUP BY policy
                """,
                [now, names],
            )
            rows: dict[str, Any] = {row[0]: row[1:] for row in await cur.fetchall()}
    status = {}
    for name in names:
        pending, overdue, failed = rows.get(name, (0, 0, 0))
        status[name] = {"pending": pending, "overdue": overdue, "failed": failed}
        for state, count in status[name].items():
            metrics.DEADLINES.labels(name, state).set(count)
    return status
