"""The EventStore interface, shared by the PostgreSQL store and the in-memory store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from acci.errors import ConcurrencyError
from acci.events import EventMetadata, NewEvent, RecordedEvent
from acci.store.subscription import Subscription

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow
from acci.streams import ANY, START, CommandRecord, ExpectedVersion, Position, StreamId


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The guide's Snapshot: an aggregate's state at `version`, tagged with its state schema's hash."""

    stream: StreamId
    version: int
    state_json: str
    schema_hash: str
    event_timestamp: datetime
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of an atomic append to several streams (`EventStore.append_many`): its
    events, and the version the stream must be at (NO_STREAM, an exact version, or ANY)."""

    stream: StreamId
    events: Sequence[NewEvent]
    expected_version: ExpectedVersion = ANY


@dataclass(frozen=True, slots=True)
class StreamLoad:
    """What loading an aggregate reads: a usable snapshot (or None), the events after it, and the
    record of a command id when one was asked about."""

    snapshot: Snapshot | None
    events: list[RecordedEvent]
    command: CommandRecord | None = None


def snapshot_usable(
    snapshot: Snapshot, schema_hash: str, to_version: int | None, as_of: datetime | None
) -> bool:
    """A snapshot of the current state schema, not newer than the version or time asked for."""
    return (
        snapshot.schema_hash == schema_hash
        and (to_version is None or snapshot.version <= to_version)
        and (as_of is None or snapshot.event_timestamp <= as_of)
    )


class InlineProjection(Protocol):
    """What the PostgreSQL store needs of a read model it keeps current inside each append's own
    transaction (read-your-writes). acci.projections.Projection has it; the store knows nothing
    more of projections."""

    @property
    def inline(self) -> bool:
        """Only projections that say so are run inline; the store ignores the others."""

    @property
    def event_types(self) -> Sequence[str]:
        """The event types that make the store call `apply_inline`."""

    def lock_key(self) -> int:
        """An advisory lock key: appends take it shared, a rebuild's swap exclusively."""

    async def apply_inline(
        self, conn: psycopg.AsyncConnection[TupleRow], events: Sequence[RecordedEvent]
    ) -> None:
        """Apply the appended events of `event_types`, in the append's transaction; never commit."""


class Waiter(ABC):
    """Wakes a subscription when new events may have been appended."""

    @abstractmethod
    async def wait(self, max_seconds: float) -> None:
        """Return when woken, or after `max_seconds`."""

    @abstractmethod
    async def close(self) -> None: ...


class EventStore(ABC):
    """Stores events in streams and reads them back, per stream and in one global order.

    Every stream belongs to one tenant. Appends are atomic and carry an expected version that
    the storage itself enforces. The global order is safe for checkpointing readers: an event
    that commits late never appears behind a position a reader has already passed.
    """

    @abstractmethod
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
        """Append `events` atomically, if the stream is at `expected_version`.

        `expected_version` is NO_STREAM (0), an exact version, or ANY (None). On a mismatch
        ConcurrencyError is raised and nothing is written. With `command_id`, the command (its
        type, this stream and `command_hash`, the hash of its data) is recorded in the same
        transaction. The command id is checked first, and again after a version conflict: a
        command id seen before with the same command raises DuplicateCommandError (carrying the
        first command's record), with another command CommandIdReused; nothing is written.
        """

    @abstractmethod
    async def append_many(
        self,
        appends: Sequence[StreamAppend],
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
        command_hash: str | None = None,
    ) -> list[list[RecordedEvent]]:
        """Append to several streams of one tenant in one transaction: all or nothing.

        Each StreamAppend carries its own expected version, checked as in `append`, also for a
        stream it appends no events to (the decision read it). A conflict on any stream raises
        ConcurrencyError naming that stream and its actual version, and nothing is written. The
        command id is recorded once, with every stream's versions (CommandRecord.more), by the
        rules of `append`; CommandRecord.stream is the first stream in lock order (by tenant,
        aggregate type, aggregate id). Returns each stream's recorded events, in the order given.
        """

    @abstractmethod
    async def read_stream(
        self,
        stream: StreamId,
        *,
        from_version: int = 0,
        to_version: int | None = None,
        as_of: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Events with from_version < version <= to_version, written at or before `as_of`."""

    @abstractmethod
    async def stream_version(self, stream: StreamId) -> int:
        """The stream's current version; 0 when it has no events."""

    @abstractmethod
    async def read_all(
        self,
        after: Position = START,
        *,
        limit: int = 500,
        event_types: Sequence[str] | None = None,
        tenant_id: str | None = None,
    ) -> list[RecordedEvent]:
        """Up to `limit` events after `after` in the global order, of the given types and tenant.

        Only events that no still-running transaction can precede are returned, so a reader
        that resumes from the last position it saw never skips an event.
        """

    @abstractmethod
    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """The guide's save_snapshot: keep the newest snapshot of the stream (an upsert)."""

    @abstractmethod
    async def load_snapshot(self, stream: StreamId) -> Snapshot | None:
        """The guide's load_snapshot; callers check `schema_hash` before trusting it."""

    @abstractmethod
    async def find_command(self, tenant_id: str, command_id: UUID) -> CommandRecord | None:
        """The record of a handled command, or None."""

    @abstractmethod
    async def waiter(self) -> Waiter:
        """Something a subscription can wait on for new events (NOTIFY, or an in-process signal)."""

    async def close(self) -> None:  # noqa: B027 - stores without resources need no close
        """Release connections."""

    async def load_stream(
        self,
        stream: StreamId,
        *,
        schema_hash: str | None = None,
        to_version: int | None = None,
        as_of: datetime | None = None,
        command: tuple[str, UUID] | None = None,
    ) -> StreamLoad:
        """Everything an aggregate load needs: the newest usable snapshot (when `schema_hash` is
        given), the events after it up to `to_version`/`as_of`, and the record of `command`
        (tenant, id) if asked. Stores may read it all at once; this default reads in turn."""
        record = await self.find_command(*command) if command is not None else None
        snapshot = await self.load_snapshot(stream) if schema_hash is not None else None
        if snapshot is not None and not snapshot_usable(snapshot, schema_hash or "", to_version, as_of):
            snapshot = None
        events = await self.read_stream(
            stream, from_version=snapshot.version if snapshot else 0, to_version=to_version, as_of=as_of
        )
        return StreamLoad(snapshot, events, record)

    async def load_streams(
        self,
        streams: Sequence[tuple[StreamId, str | None]],
        *,
        command: tuple[str, UUID] | None = None,
    ) -> list[StreamLoad]:
        """`load_stream` for several streams (each with the schema hash of its snapshots, or None
        for no snapshot), and the record of `command` with the first. Stores may read them in one
        round trip; this default reads them in turn."""
        loads = []
        for index, (stream, schema_hash) in enumerate(streams):
            asked = command if index == 0 else None
            loads.append(await self.load_stream(stream, schema_hash=schema_hash, command=asked))
        return loads

    # -- conveniences -----------------------------------------------------------------------

    async def command_events(self, record: CommandRecord) -> list[RecordedEvent]:
        """The events a handled command produced: each stream's, in the order of `record.ranges`."""
        events: list[RecordedEvent] = []
        for part in record.ranges:
            if part.last_version >= part.first_version:
                events.extend(
                    await self.read_stream(
                        part.stream, from_version=part.first_version - 1, to_version=part.last_version
                    )
                )
        return events

    def subscribe(
        self,
        after: Position = START,
        *,
        event_types: Sequence[str] | None = None,
        tenant_id: str | None = None,
        batch_size: int = 500,
        poll_interval: float = 0.5,
    ) -> Subscription:
        """Catch up from `after`, then follow new events as they commit."""
        return Subscription(
            self,
            after,
            event_types=event_types,
            tenant_id=tenant_id,
            batch_size=batch_size,
            poll_interval=poll_interval,
        )

    async def store_event(
        self,
        stream: StreamId,
        event: NewEvent,
        expected_version: ExpectedVersion = ANY,
        *,
        metadata: EventMetadata | None = None,
    ) -> RecordedEvent:
        """The guide's store_event: append one event. Unlike the guide's, it checks the version
        in the same statement that writes, so two writers can never both pass the check."""
        (recorded,) = await self.append(stream, [event], expected_version, metadata=metadata)
        return recorded

    async def get_events(self, stream: StreamId, from_version: int | None = None) -> list[RecordedEvent]:
        """The guide's get_events: the stream's events after `from_version`, in version order."""
        return await self.read_stream(stream, from_version=from_version or 0)

    async def check_version(self, stream: StreamId, expected_version: int) -> None:
        """The guide's check_version: raise ConcurrencyError unless the stream is at that version.

        This is a read, so it can only warn early: the guarantee comes from passing the expected
        version to `append`, which checks it atomically with the write.
        """
        actual = await self.stream_version(stream)
        if actual != expected_version:
            raise ConcurrencyError(stream, expected_version, actual)
