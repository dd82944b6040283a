"""Checks and serialization shared by every store before an append."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from acci._gcpause import gc_paused
from acci.errors import ConfigurationError, shown
from acci.events import EventMetadata, NewEvent
from acci.streams import ExpectedVersion, StreamId


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


def append_params(
    stream: StreamId,
    events: Sequence[NewEvent],
    expected_version: ExpectedVersion,
    meta: EventMetadata,
    command_id: UUID | None,
    command_type: str,
) -> tuple[list[Any], list[tuple[str, int, str]]]:
    """Validate an append and build the parameters of acci.append_events, plus each event's
    (type, schema version, JSON text)."""
    if expected_version is not None and expected_version < 0:
        raise ConfigurationError(
            f"expected_version {expected_version} for {stream} is not valid: use NO_STREAM (0), "
            "ANY (None), or the version the stream must be at."
        )
    with gc_paused(len(events)):  # many new strings and tuples at once; see acci._gcpause
        types = [(*event.resolved_type(), event.data_json()) for event in events]
    for event_type, _, _ in types:
        if not event_type:
            raise ConfigurationError(f"an event for {stream} has no event_type; set NewEvent.event_type.")
    params: list[Any] = [
        stream.tenant_id,
        stream.aggregate_type,
        stream.aggregate_id,
        expected_version,
        [event.event_id for event in events],
        [t[0] for t in types],
        [t[1] for t in types],
        [t[2] for t in types],
        meta.user_id,
        meta.correlation_id,
        meta.causation_id,
        json.dumps(dict(meta.extra), default=str) if meta.extra else None,
        command_id,
        command_type or None,
    ]
    return params, types
