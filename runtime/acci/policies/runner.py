"""Running a policy like a projection: a ProjectionRunner over a Projection whose `apply` sends
the policy's commands and keeps its deadlines.

So a policy gets everything a projection has: batches checkpointed in one transaction with their
effects on the database (its deadlines, in acci.deadlines, its "read model"), one active runner
among all processes with a standby taking over, dead letters that keep each stream's order and
replay, lag in `projection_status` and health, and the projection metrics under its name.

Its commands are not part of the batch's transaction (each is appended by its own handler), so a
runner killed after sending and before its checkpoint commits sends them again on restart: each
command's id is derived from the policy's name and the event's id, and the command log answers
the repeat with the first result. Every event's commands take effect exactly once.

The commands of a batch are sent before any of its database writes, so that the batch's
transaction takes a transaction id (which holds back every reader of the global order until it
commits) only for its last moment. A policy's runner needs a second connection of the store's pool
for the commands it sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

from psycopg import sql

from acci.commands import Command, CommandMetadata
from acci.errors import ConfigurationError, shown
from acci.events import RecordedEvent
from acci.policies._sending import Observer, Sender
from acci.policies.base import Cancel, Policy, Schedule, Send, command_id, deadline_id
from acci.policies.deadlines import cancel, schedule
from acci.projections import ProjectionRunner, ReplayResult, RunnerSettings, replay_dead_letters
from acci.projections.base import Connection, Projection
from acci.store.postgres import PostgresEventStore

#: A deadline to store or cancel once the batch's commands are sent: (effect, its index, event).
_Write = tuple[Schedule | Cancel, int, RecordedEvent]


class PolicyProjection(Projection):
    """A policy as a projection: `apply` sends its commands and keeps its deadlines. Build one
    with `policy_projection`, which gives it the policy's name and event types."""

    schema: ClassVar[str] = "acci"
    table: ClassVar[str] = "deadlines"

    def __init__(self, policy: Policy, store: PostgresEventStore, observer: Observer | None = None) -> None:
        self.policy = policy
        self._sender = Sender(store, policy, observer)

    async def apply(self, conn: Connection, table: sql.Identifier, event: RecordedEvent) -> None:
        """One event (a careful batch, a replay): its commands, then its deadlines."""
        self._refuse_copies(table)
        await self._write(conn, await self._react(event))

    async def apply_batch(
        self, conn: Connection, table: sql.Identifier, events: Sequence[RecordedEvent]
    ) -> None:
        """Every event's commands, in order, then all of the batch's deadlines."""
        self._refuse_copies(table)
        writes: list[_Write] = []
        for event in events:
            writes.extend(await self._react(event))
        await self._write(conn, writes)

    async def _react(self, event: RecordedEvent) -> list[_Write]:
        """Send the commands of the policy's reaction to `event`; the deadline writes it asks for."""
        policy = self.policy
        effects = policy.react(policy.registry.decode(event), event)
        metadata = CommandMetadata(
            user_id=f"policy:{policy.name}",
            tenant_id=event.tenant_id,
            correlation_id=event.metadata.correlation_id,
            timestamp=event.timestamp,
        )
        writes: list[_Write] = []
        for index, effect in enumerate(effects):
            if isinstance(effect, Send):
                command = Command(effect.command, metadata, id=command_id(policy.name, event.id, index))
                cause = f"{event.event_type} {event.id} ({event.stream})"
                await self._sender.send(command, effect.on_rejected, cause)
            elif isinstance(effect, Schedule | Cancel):
                writes.append((effect, index, event))
            else:
                raise TypeError(
                    f"policy {policy.name!r} reacted to {event.event_type} with {effect!r}; a reaction is a "
                    "sequence of Send, Schedule and Cancel."
                )
        return writes

    async def _write(self, conn: Connection, writes: list[_Write]) -> None:
        name = self.policy.name
        for effect, index, event in writes:
            if isinstance(effect, Schedule):
                await schedule(conn, name, deadline_id(name, event.id, index), effect, event)
            else:
                await cancel(conn, name, effect, event)

    def _refuse_copies(self, table: sql.Identifier) -> None:
        """A rebuild or a consistency check replays into a scratch table: for a policy that would
        send every command again. Refuse it."""
        if table != self.table_identifier():
            raise ConfigurationError(
                f"policy {shown(self.policy.name)} cannot be rebuilt or checked by a replay: its effects are "
                "commands, which a replay would send again. Replay its dead letters instead."
            )


_PROJECTION_CLASSES: dict[type[Policy], type[PolicyProjection]] = {}


def policy_projection(
    policy: Policy, store: PostgresEventStore, observer: Observer | None = None
) -> PolicyProjection:
    """The policy as a Projection on `store` (for ProjectionRunner, `replay_dead_letters`,
    `projection_status`, health checks): named like the policy, reading its event types.
    `observer` hears of every command it sends (tests, logs)."""
    cls = _PROJECTION_CLASSES.get(type(policy))
    if cls is None:
        attributes: dict[str, Any] = {
            "name": policy.name,
            "event_types": tuple(policy.event_types),
            "__module__": type(policy).__module__,
        }
        cls = cast(
            type[PolicyProjection],
            type(f"{type(policy).__name__}Projection", (PolicyProjection,), attributes),
        )
        cls.table_name()  # a policy's name must be a valid SQL name, like a projection's
        _PROJECTION_CLASSES[type(policy)] = cls
    return cls(policy, store, observer)


def policy_runner(
    store: PostgresEventStore,
    policy: Policy,
    settings: RunnerSettings | None = None,
    *,
    observer: Observer | None = None,
) -> ProjectionRunner:
    """A ProjectionRunner for the policy: `step()`, `catch_up()`, `run(stop)` as for a projection."""
    return ProjectionRunner(store, policy_projection(policy, store, observer), settings)


async def replay_policy_dead_letters(
    store: PostgresEventStore, policy: Policy, *, observer: Observer | None = None
) -> ReplayResult:
    """Handle the policy's parked events again, in log order (see `replay_dead_letters`); their
    commands keep their ids, so one that went through before is answered as a replay."""
    return await replay_dead_letters(store, policy_projection(policy, store, observer))
