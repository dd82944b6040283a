"""Loading aggregates (from a snapshot plus later events, or as of a version or time) and saving
their new events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import ValidationError

from acci import metrics
from acci._gcpause import gc_paused
from acci.aggregate import Aggregate
from acci.errors import AcciError, AggregateNotFound
from acci.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from acci.store.base import EventStore, Snapshot, StreamAppend, StreamLoad
from acci.streams import CommandRecord

A = TypeVar("A", bound=Aggregate[Any])
AnyAggregate = TypeVar("AnyAggregate", bound=Aggregate[Any])

log = logging.getLogger("acci.repository")


class Repository(Generic[A]):
    """Loads and saves one aggregate class through an event store."""

    def __init__(self, store: EventStore, aggregate_class: type[A]) -> None:
        self.store = store
        self.aggregate_class = aggregate_class

    async def load(
        self,
        tenant_id: str,
        aggregate_id: str,
        *,
        at_version: int | None = None,
        as_of: datetime | None = None,
        use_snapshot: bool = True,
    ) -> A:
        """The aggregate as of now, as of `at_version`, or as of the time `as_of`.

        A snapshot is used when its schema hash matches the class and it is not newer than the
        version or time asked for; otherwise the stream is replayed from the start.
        """
        aggregate, _ = await self.load_with_command(
            tenant_id, aggregate_id, at_version=at_version, as_of=as_of, use_snapshot=use_snapshot
        )
        return aggregate

    async def load_with_command(
        self,
        tenant_id: str,
        aggregate_id: str,
        *,
        at_version: int | None = None,
        as_of: datetime | None = None,
        use_snapshot: bool = True,
        command_id: UUID | None = None,
    ) -> tuple[A, CommandRecord | None]:
        """`load`, and the record of `command_id` if it was handled before, read together."""
        aggregate = self.aggregate_class(tenant_id, aggregate_id)
        loaded = await self.store.load_stream(
            aggregate.stream,
            schema_hash=aggregate.schema_hash() if use_snapshot else None,
            to_version=at_version,
            as_of=as_of,
            command=(tenant_id, command_id) if command_id is not None else None,
        )
        aggregate = await _restored(self.store, aggregate, loaded, to_version=at_version, as_of=as_of)
        return aggregate, loaded.command

    async def save(
        self,
        aggregate: A,
        events: Sequence[DomainEvent],
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
        command_hash: str | None = None,
    ) -> list[RecordedEvent]:
        """Append `events` expecting the version the aggregate was loaded at; apply them to it.

        Saves a snapshot when the new version passes a multiple of `snapshot_every`.
        """
        loaded_version = aggregate.version
        recorded = await self.store.append(
            aggregate.stream,
            [NewEvent.of(event) for event in events],
            loaded_version,
            metadata=metadata,
            command_id=command_id,
            command_type=command_type,
            command_hash=command_hash,
        )
        await _apply_saved(self.store, aggregate, events, recorded, loaded_version)
        return recorded

    def snapshot(self, aggregate: A) -> Snapshot:
        """A snapshot of the aggregate's current state, tagged with its state schema's hash."""
        return _snapshot_of(aggregate)

    async def save_snapshot(self, aggregate: A) -> None:
        """Save a snapshot of the aggregate now."""
        await _save_snapshot(self.store, aggregate)


async def load_aggregates(
    store: EventStore,
    tenant_id: str,
    wanted: Sequence[tuple[type[Aggregate[Any]], str]],
    *,
    command_id: UUID | None = None,
) -> tuple[list[Aggregate[Any]], CommandRecord | None]:
    """Several aggregates of one tenant as of now (each from its newest usable snapshot), read in
    one round trip where the store can, and the record of `command_id` if it was handled before."""
    aggregates = [aggregate_class(tenant_id, aggregate_id) for aggregate_class, aggregate_id in wanted]
    loads = await store.load_streams(
        [(aggregate.stream, aggregate.schema_hash()) for aggregate in aggregates],
        command=(tenant_id, command_id) if command_id is not None else None,
    )
    restored = [await _restored(store, a, loaded) for a, loaded in zip(aggregates, loads, strict=True)]
    return restored, loads[0].command if loads else None


async def save_aggregates(
    store: EventStore,
    changes: Sequence[tuple[Aggregate[Any], Sequence[DomainEvent]]],
    *,
    metadata: EventMetadata | None = None,
    command_id: UUID | None = None,
    command_type: str = "",
    command_hash: str | None = None,
) -> list[list[RecordedEvent]]:
    """Append each aggregate's events in one transaction (EventStore.append_many), each expecting
    the version its aggregate was loaded at, also those with no events; apply them, and save the
    snapshots that are due. A conflict on any of them writes nothing (ConcurrencyError)."""
    loaded_versions = [aggregate.version for aggregate, _ in changes]
    recorded = await store.append_many(
        [
            StreamAppend(aggregate.stream, [NewEvent.of(event) for event in events], aggregate.version)
            for aggregate, events in changes
        ],
        metadata=metadata,
        command_id=command_id,
        command_type=command_type,
        command_hash=command_hash,
    )
    for (aggregate, events), stored, loaded_version in zip(changes, recorded, loaded_versions, strict=True):
        await _apply_saved(store, aggregate, events, stored, loaded_version)
    return recorded


async def _restored(
    store: EventStore,
    aggregate: AnyAggregate,
    loaded: StreamLoad,
    *,
    to_version: int | None = None,
    as_of: datetime | None = None,
) -> AnyAggregate:
    """The aggregate with its loaded snapshot and events applied."""
    events = loaded.events
    if loaded.snapshot is not None:
        try:
            snapshot = loaded.snapshot
            aggregate.restore(snapshot.version, snapshot.state_json, snapshot.event_timestamp)
        except ValidationError:
            # The hash matched but the data does not fit: treat it as stale, never misread it.
            log.warning("ignoring a snapshot of %s that does not fit its state class", aggregate.stream)
            aggregate = type(aggregate)(aggregate.stream.tenant_id, aggregate.id)
            events = await store.read_stream(aggregate.stream, to_version=to_version, as_of=as_of)
    with gc_paused(len(events)):  # many short-lived payloads, no cycles: see acci._gcpause
        for event in events:
            aggregate.apply(event)
    return aggregate


async def _apply_saved(
    store: EventStore,
    aggregate: Aggregate[Any],
    events: Sequence[DomainEvent],
    recorded: Sequence[RecordedEvent],
    loaded_version: int,
) -> None:
    """Apply appended events to their aggregate; save a snapshot when one is due."""
    for payload, stored in zip(events, recorded, strict=True):
        aggregate.apply_payload(payload, stored.version, stored.timestamp)
    every = aggregate.snapshot_every
    if every and recorded and aggregate.version // every > loaded_version // every:
        # The events are stored already; a failed snapshot only costs a longer replay later.
        try:
            await _save_snapshot(store, aggregate)
        except AcciError:
            log.exception(
                "could not save a snapshot of %s; loads replay more events until the next one",
                aggregate.stream,
            )


def _snapshot_of(aggregate: Aggregate[Any]) -> Snapshot:
    state, last_event = aggregate.state, aggregate.last_event_at
    if state is None or last_event is None:
        raise AggregateNotFound(aggregate.stream)
    return Snapshot(
        aggregate.stream, aggregate.version, state.model_dump_json(), aggregate.schema_hash(), last_event
    )


async def _save_snapshot(store: EventStore, aggregate: Aggregate[Any]) -> None:
    snapshot = _snapshot_of(aggregate)
    await store.save_snapshot(snapshot)
    metrics.SNAPSHOT_SIZE.labels(aggregate.aggregate_type).observe(len(snapshot.state_json))
