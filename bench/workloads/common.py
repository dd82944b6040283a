"""SQL and helpers the workloads share: the raw side's statements and rows, eventsourcing's stored
events, and running writers in threads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from acci import NewEvent, StreamId
from eventsourcing.persistence import StoredEvent
from psycopg.types.json import Jsonb

from bench.context import Context
from bench.model import AGGREGATE_TYPE, TENANT, acci_event, payload

RAW_COLUMNS = (
    "id, tenant_id, aggregate_type, aggregate_id, version, event_type, schema_version, data, "
    "user_id, correlation_id, causation_id"
)
RAW_INSERT = (
    f"INSERT INTO bench_raw.events ({RAW_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608 - constants
)
RAW_COPY = f"COPY bench_raw.events ({RAW_COLUMNS}) FROM STDIN"

# Everything ACCI's reads return, with data and metadata as jsonb (psycopg makes dicts of them).
RAW_SELECT = """
SELECT id, tenant_id, aggregate_type, aggregate_id, event_type, version, schema_version, data, user_id,
       correlation_id, causation_id, metadata, "timestamp", transaction_id, global_position
  FROM bench_raw.events
"""
RAW_READ_STREAM = (
    RAW_SELECT + " WHERE tenant_id = %s AND aggregate_type = %s AND aggregate_id = %s AND version > %s"
    " ORDER BY version"
)

ES_TOPIC = "bench.model:EsUser.ProfileUpdated"


def stream(aggregate_id: str) -> StreamId:
    return StreamId(TENANT, AGGREGATE_TYPE, aggregate_id)


def event_type(version: int) -> str:
    return "UserRegistered" if version == 1 else "ProfileUpdated"


def raw_row(aggregate_id: str, version: int, data: dict[str, Any]) -> tuple[Any, ...]:
    """A row of bench_raw.events, as RAW_INSERT and RAW_COPY take it."""
    return (
        uuid.uuid4(),
        TENANT,
        AGGREGATE_TYPE,
        aggregate_id,
        version,
        event_type(version),
        1,
        Jsonb(data),
        None,
        str(uuid.uuid4()),
        None,
    )


def payloads(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [payload(i) for i in range(first, first + count)]


def states(count: int, first: int = 0) -> list[bytes]:
    """Payloads as eventsourcing's recorder stores them: JSON bytes."""
    return [json.dumps(p, separators=(",", ":")).encode() for p in payloads(count, first)]


def stored_event(originator_id: uuid.UUID, version: int, state: bytes) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=ES_TOPIC, state=state)


def new_events(count: int, first: int = 0) -> list[NewEvent]:
    return [NewEvent.of(acci_event(i)) for i in range(first, first + count)]


async def acci_fill(ctx: Context, aggregate_id: str, events: int, batch: int = 10_000) -> None:
    """Append `events` events to one ACCI stream, in batches (setup, not timed)."""
    store = await ctx.store()
    for first in range(0, events, batch):
        count = min(batch, events - first)
        await store.append(stream(aggregate_id), new_events(count, first), first)


def raw_fill(ctx: Context, aggregate_id: str, events: int) -> None:
    """COPY `events` rows of one stream into bench_raw.events (setup, not timed)."""
    conn = ctx.raw()
    with conn.transaction(), conn.cursor().copy(RAW_COPY) as copy:
        for version, data in enumerate(payloads(events), start=1):
            copy.write_row(raw_row(aggregate_id, version, data))


def in_threads(workers: int, work: Callable[[int], None]) -> None:
    """Run work(0) ... work(workers - 1) in threads of their own; return when all are done."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work, k) for k in range(workers)]:
            future.result()


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
