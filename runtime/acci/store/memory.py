"""An in-memory event store: the same contract as the PostgreSQL store, for fast unit tests of
domain logic (the guide's MockEventStore, but a real implementation that passes the same tests)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from acci import metrics
from acci.errors import CommandIdReused, ConcurrencyError, DuplicateCommandError, DuplicateEventError
from acci.events import EventMetadata, NewEvent, RecordedEvent
from acci.store._prepare import PreparedAppend, prepare_append, prepare_many
from acci.store.base import EventStore, Snapshot, StreamAppend, Waiter
from acci.streams import ANY, START, CommandRecord, ExpectedVersion, Position, StreamId, StreamRange


@dataclass
class _State:
    streams: dict[StreamId, list[RecordedEvent]] = field(default_factory=dict)
    log: list[RecordedEvent] = field(default_factory=list)
    snapshots: dict[StreamId, Snapshot] = field(default_factory=dict)
    commands: dict[tuple[str, UUID], CommandRecord] = field(default_factory=dict)
    event_ids: set[UUID] = field(default_factory=set)
    next_transaction: int = 1
    next_position: int = 1


class InMemoryEventStore(EventStore):
    """Keeps everything in process memory. Each append is one "transaction" that commits at once,
    so the global order is simply the append order."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = asyncio.Lock()
        self._appended = asyncio.Condition()

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
        command_hash: str | None = None,
    ) -> list[RecordedEvent]:
        # The same validation (and serialization) as the PostgreSQL store.
        prepared = prepare_append(
            stream, events, expected_version, metadata, command_id, command_type, command_hash
        )
        (recorded,) = await self._write(prepared)
        return recorded

    async def append_many(
        self,
        appends: Sequence[StreamAppend],
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
        command_hash: str | None = None,
    ) -> list[list[RecordedEvent]]:
        prepared = prepare_many(appends, metadata, command_id, command_type, command_hash)
        by_stream = dict(zip((p.stream for p in prepared.parts), await self._write(prepared), strict=True))
        return [by_stream[append.stream] for append in appends]

    async def _write(self, prepared: PreparedAppend) -> list[list[RecordedEvent]]:
        """Write every part of `prepared` as one transaction, or nothing; each part's events."""
        parts = prepared.parts
        async with self._lock:
            state = self._state
            # The command id before the versions, as in acci.claim_append.
            key, command_id = prepared.command_key, prepared.command_id
            first = state.commands.get(key) if key is not None else None
            if first is not None and command_id is not None:
                if first.same_command(prepared.command_type, prepared.stream, prepared.command_hash):
                    raise DuplicateCommandError(prepared.stream.tenant_id, command_id, first)
                raise CommandIdReused(command_id, first, prepared.command_type, prepared.stream)
            bases = []
            for part in parts:
                actual = len(state.streams.get(part.stream, []))
                if part.expected_version is not None and actual != part.expected_version:
                    metrics.CONCURRENCY_CONFLICTS.labels(part.stream.aggregate_type).inc()
                    raise ConcurrencyError(part.stream, part.expected_version, actual)
                bases.append(actual)
            new_ids: set[UUID] = set()
            for part in parts:  # unique in the store, and within the append (as PostgreSQL's key)
                for event in part.events:
                    if event.event_id in state.event_ids or event.event_id in new_ids:
                        raise DuplicateEventError(part.stream, event.event_id)
                    new_ids.add(event.event_id)
            transaction = state.next_transaction
            state.next_transaction += 1
            now = datetime.now(UTC)
            written = [
                self._recorded(part, base, transaction, now) for part, base in zip(parts, bases, strict=True)
            ]
            if key is not None and command_id is not None:
                ranges = [
                    StreamRange(part.stream, base + 1, base + len(part.types))
                    for part, base in zip(parts, bases, strict=True)
                ]
                state.commands[key] = CommandRecord(
                    command_id,
                    prepared.command_type,
                    prepared.stream,
                    ranges[0].first_version,
                    ranges[0].last_version,
                    prepared.command_hash,
                    tuple(ranges[1:]),
                )
            for part, recorded in zip(parts, written, strict=True):
                if recorded:
                    state.streams[part.stream] = [*state.streams.get(part.stream, []), *recorded]
                    state.log.extend(recorded)
            state.event_ids.update(new_ids)
        every = [event for recorded in written for event in recorded]
        metrics.record_appended(every)
        if every:
            async with self._appended:
                self._appended.notify_all()
        return written

    def _recorded(
        self, part: PreparedAppend, base: int, transaction: int, now: datetime
    ) -> list[RecordedEvent]:
        state = self._state
        recorded = []
        for offset, (event, (event_type, schema_version, data_json)) in enumerate(
            zip(part.events, part.types, strict=True), start=1
        ):
            recorded.append(
                RecordedEvent(
                    id=event.event_id,
                    aggregate_type=part.stream.aggregate_type,
                    aggregate_id=part.stream.aggregate_id,
                    event_type=event_type,
                    version=base + offset,
                    schema_version=schema_version,
                    data_json=data_json,
                    metadata=part.metadata,
                    timestamp=now,
                    position=Position(transaction, state.next_position),
                )
            )
            state.next_position += 1
        return recorded

    async def read_stream(
        self,
        stream: StreamId,
        *,
        from_version: int = 0,
        to_version: int | None = None,
        as_of: datetime | None = None,
    ) -> list[RecordedEvent]:
        return [
            event
            for event in self._state.streams.get(stream, [])
            if from_version < event.version
            and (to_version is None or event.version <= to_version)
            and (as_of is None or event.timestamp <= as_of)
        ]

    async def stream_version(self, stream: StreamId) -> int:
        return len(self._state.streams.get(stream, []))

    async def read_all(
        self,
        after: Position = START,
        *,
        limit: int = 500,
        event_types: Sequence[str] | None = None,
        tenant_id: str | None = None,
    ) -> list[RecordedEvent]:
        wanted = set(event_types) if event_types is not None else None
        page: list[RecordedEvent] = []
        for event in self._state.log:
            if event.position <= after:
                continue
            if wanted is not None and event.event_type not in wanted:
                continue
            if tenant_id is not None and event.tenant_id != tenant_id:
                continue
            page.append(event)
            if len(page) == limit:
                break
        return page

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        current = self._state.snapshots.get(snapshot.stream)
        if (
            current is None
            or current.version < snapshot.version
            or current.schema_hash != snapshot.schema_hash
        ):
            self._state.snapshots[snapshot.stream] = copy.copy(snapshot)

    async def load_snapshot(self, stream: StreamId) -> Snapshot | None:
        return self._state.snapshots.get(stream)

    async def find_command(self, tenant_id: str, command_id: UUID) -> CommandRecord | None:
        return self._state.commands.get((tenant_id, command_id))

    async def waiter(self) -> Waiter:
        return _ConditionWaiter(self._appended)


class _ConditionWaiter(Waiter):
    def __init__(self, condition: asyncio.Condition) -> None:
        self._condition = condition

    async def wait(self, max_seconds: float) -> None:
        async with self._condition:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._condition.wait(), max_seconds)

    async def close(self) -> None:
        return None
