"""Checks and serialization shared by every store before an append: one caller's append, validated
and serialized, ready for any write path (a single statement, COPY, or a coalesced batch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from acci._gcpause import gc_paused
from acci.errors import ConfigurationError, shown
from acci.events import EventMetadata, NewEvent
from acci.streams import ExpectedVersion, StreamId, stream_order

if TYPE_CHECKING:
    from acci.store.base import StreamAppend


@dataclass(slots=True)
class PreparedAppend:
    """One caller's append to one stream, validated, with each event serialized."""

    stream: StreamId
    events: Sequence[NewEvent]
    expected_version: ExpectedVersion
    metadata: EventMetadata
    #: `metadata.extra` as JSON text, or None when empty.
    extra_json: str | None
    #: (event type, schema version, JSON data) of each event, in order.
    types: list[tuple[str, int, str]]
    command_id: UUID | None = None
    command_type: str = ""
    command_hash: str | None = None
    #: The further streams of an atomic append to several streams (`append_many`), all or nothing
    #: with this one, in lock order. The command is recorded once, with this first part.
    more: list[PreparedAppend] = field(default_factory=list)

    @property
    def command_key(self) -> tuple[str, UUID] | None:
        return (self.stream.tenant_id, self.command_id) if self.command_id is not None else None

    @property
    def parts(self) -> list[PreparedAppend]:
        """This part and the further ones: one stream each."""
        return [self, *self.more] if self.more else [self]

    @property
    def size(self) -> int:
        """The number of events of every part."""
        return sum(len(part.types) for part in self.parts)


def metadata_for(stream: StreamId, metadata: EventMetadata | None) -> EventMetadata:
    """The metadata stored with an append: the caller's, with the stream's tenant filled in."""
    if metadata is None:
        return EventMetadata(tenant_id=stream.tenant_id)
    if metadata.tenant_id and metadata.tenant_id != stream.tenant_id:
        raise ConfigurationError(
            f"metadata names tenant {shown(metadata.tenant_id)} but the stream {stream} belongs to "
            f"{shown(stream.tenant_id)}; events can only be appended to a stream of their own tenant."
        )
    if metadata.tenant_id:
        return metadata
    return EventMetadata(
        correlation_id=metadata.correlation_id,
        user_id=metadata.user_id,
        causation_id=metadata.causation_id,
        tenant_id=stream.tenant_id,
        extra=metadata.extra,
    )


def prepare_append(
    stream: StreamId,
    events: Sequence[NewEvent],
    expected_version: ExpectedVersion,
    metadata: EventMetadata | None,
    command_id: UUID | None = None,
    command_type: str = "",
    command_hash: str | None = None,
) -> PreparedAppend:
    """Validate an append and serialize its events; raise ConfigurationError for bad input."""
    if expected_version is not None and expected_version < 0:
        raise ConfigurationError(
            f"expected_version {expected_version} for {stream} is not valid: use NO_STREAM (0), "
            "ANY (None), or the version the stream must be at."
        )
    meta = metadata_for(stream, metadata)
    with gc_paused(len(events)):  # many new strings and tuples at once; see acci._gcpause
        types = [(*event.resolved_type(), event.data_json()) for event in events]
    for event_type, _, _ in types:
        if not event_type:
            raise ConfigurationError(f"an event for {stream} has no event_type; set NewEvent.event_type.")
    return PreparedAppend(
        stream,
        events,
        expected_version,
        meta,
        json.dumps(dict(meta.extra), default=str) if meta.extra else None,
        types,
        command_id,
        command_type,
        command_hash,
    )


def prepare_many(
    appends: Sequence[StreamAppend],
    metadata: EventMetadata | None,
    command_id: UUID | None = None,
    command_type: str = "",
    command_hash: str | None = None,
) -> PreparedAppend:
    """Validate an atomic append to several streams: one part per stream, sorted into lock order,
    the first carrying the command. Every stream must be of one tenant, and each named once."""
    if not appends:
        raise ConfigurationError("append_many needs at least one StreamAppend; nothing was written.")
    tenants = {append.stream.tenant_id for append in appends}
    if len(tenants) > 1:
        raise ConfigurationError(
            f"an atomic append spans one tenant, but these streams belong to {len(tenants)}: "
            f"{', '.join(shown(t) for t in sorted(tenants))}; nothing was written."
        )
    seen: set[StreamId] = set()
    for append in appends:
        if append.stream in seen:
            raise ConfigurationError(
                f"{append.stream} is named twice in one atomic append; put all of its events into one "
                "StreamAppend. Nothing was written."
            )
        seen.add(append.stream)
    ordered = sorted(appends, key=lambda append: stream_order(append.stream))
    parts = [prepare_append(a.stream, a.events, a.expected_version, metadata) for a in ordered]
    first = parts[0]
    first.command_id, first.command_type, first.command_hash = command_id, command_type, command_hash
    first.more = parts[1:]
    return first
