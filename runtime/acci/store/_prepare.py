"""Checks and serialization shared by every store before an append: one caller's append, validated
and serialized, ready for any write path (a single statement, COPY, or a coalesced batch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from acci._gcpause import gc_paused
from acci.errors import ConfigurationError, shown
from acci.events import EventMetadata, NewEvent
from acci.streams import ExpectedVersion, StreamId


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

    @property
    def command_key(self) -> tuple[str, UUID] | None:
        return (self.stream.tenant_id, self.command_id) if self.command_id is not None else None


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
