"""The append path on PostgreSQL: its statements, their parameters and their answers.

One caller's append alone goes to acci.append_event (one event) or acci.append_events, or, from
1,000 events on, by COPY after the same claim. The appends of many callers, coalesced, go to
acci.append_batch in one statement: a batch is a list of entries, each one caller's all-or-nothing
append of one part (one stream) or, for `append_many`, several (each stream with its own expected
version). An append to several streams takes the batch statement even alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from acci._gcpause import gc_paused
from acci.errors import DatabaseError
from acci.events import RecordedEvent
from acci.store._pg_errors import claim_error
from acci.store._prepare import PreparedAppend
from acci.streams import Position, stream_order

# The arrays go in binary (%b): psycopg's text array dumper quotes every element in Python, which
# halved the speed of a 10,000-event append.
APPEND = """
SELECT out_version, out_transaction_id::text::bigint, out_global_position, out_timestamp
  FROM acci.append_events(%s, %s, %s, %s::bigint, %b::uuid[], %b::text[], %b::int[], %b::text[],
                          %s, %s, %s, %s, %s::uuid, %s, %s, %s)
"""

# One event, the most common append: scalars, no arrays to adapt (acci.append_event).
APPEND_ONE = """
SELECT out_version, out_transaction_id::text::bigint, out_global_position, out_timestamp
  FROM acci.append_event(%s, %s, %s, %s::bigint, %s::uuid, %s, %s::int, %s,
                         %s, %s, %s, %s, %s::uuid, %s, %s, %s)
"""

# Appends of this many events or more go in by COPY, which is about twice as fast as one
# INSERT of an unnested array for large batches; below it, the round trips COPY needs cost more.
COPY_FROM = 1000

_COPY_EVENTS = """
COPY acci.events (id, tenant_id, aggregate_type, aggregate_id, version, event_type, schema_version,
                  data, user_id, correlation_id, causation_id, metadata) FROM STDIN
"""

_COPIED = """
SELECT version, transaction_id::text::bigint, global_position, "timestamp" FROM acci.events
 WHERE tenant_id = %s AND aggregate_type = %s AND aggregate_id = %s AND version > %s
 ORDER BY version
"""

# The arrays go in binary (%b), like acci.append_events'.
APPEND_BATCH = """
SELECT out_part, out_status, out_version, out_transaction_id::text::bigint, out_global_position,
       out_timestamp, out_detail
  FROM acci.append_batch(%b::int[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::int[],
                         %b::text[], %b::text[], %b::text[], %b::text[], %b::uuid[], %b::text[],
                         %b::text[], %b::int[], %b::uuid[], %b::text[], %b::int[], %b::text[], %s)
"""

#: One entry's outcome: its recorded events, or its own error.
Outcome = list[RecordedEvent] | Exception


def lock_order(entries: Sequence[PreparedAppend]) -> list[int]:
    """The order to claim the entries' streams in: sorted by stream, so that two batches lock
    shared streams in the same order and cannot deadlock; stable, so that appends to one stream
    keep their arrival order (the second may expect the version the first produces). An entry of
    several streams (sorted within) goes by its first: a batch holding one can still meet another
    in a deadlock, which the server breaks by failing one batch, and that one is written again
    append by append."""
    return sorted(range(len(entries)), key=lambda i: stream_order(entries[i].stream))


def batch_params(entries: Sequence[PreparedAppend], notify: bool) -> list[Any]:
    """acci.append_batch's parameters for `entries` (in that order), one part per entry.

    psycopg adapts an array parameter element by element in Python (about half a microsecond
    each), which was the largest part of the client's time per append in a batch: a column whose
    values are all None goes as one NULL, and the entry, count and part columns as NULL when every
    entry has one event (acci.append_batch reads NULL as "one each")."""
    columns: list[list[Any]] = [[] for _ in range(13)]
    (
        entry_ids,
        tenants,
        aggregate_types,
        aggregate_ids,
        expected,
        counts,
        user_ids,
        correlation_ids,
        causation_ids,
        extras,
        command_ids,
        command_types,
        command_hashes,
    ) = columns
    event_parts: list[int] = []
    event_ids: list[Any] = []
    event_types: list[str] = []
    schema_versions: list[int] = []
    data: list[str] = []
    with gc_paused(len(entries)):
        for number, entry in enumerate(entries, start=1):
            for part in entry.parts:
                stream, meta = part.stream, part.metadata
                entry_ids.append(number)
                tenants.append(stream.tenant_id)
                aggregate_types.append(stream.aggregate_type)
                aggregate_ids.append(stream.aggregate_id)
                expected.append(part.expected_version)
                counts.append(len(part.types))
                user_ids.append(meta.user_id)
                correlation_ids.append(meta.correlation_id)
                causation_ids.append(meta.causation_id)
                extras.append(part.extra_json)
                command_ids.append(part.command_id)
                command_types.append(part.command_type or None)
                command_hashes.append(part.command_hash)
                part_number = len(tenants)
                for event, (event_type, schema_version, data_json) in zip(
                    part.events, part.types, strict=True
                ):
                    event_parts.append(part_number)
                    event_ids.append(event.event_id)
                    event_types.append(event_type)
                    schema_versions.append(schema_version)
                    data.append(data_json)
    one_each = len(event_ids) == len(tenants) == len(entries) and all(count == 1 for count in counts)
    params: list[Any] = [
        None if one_each else entry_ids,
        tenants,
        aggregate_types,
        aggregate_ids,
        _or_null(expected),
        None if one_each else counts,
        *(_or_null(column) for column in columns[6:]),
        None if one_each else event_parts,
        event_ids,
        event_types,
        schema_versions,
        data,
        notify,
    ]
    return params


def _or_null(column: list[Any]) -> list[Any] | None:
    """The column, or None when all its values are None."""
    return None if all(value is None for value in column) else column


def batch_outcomes(entries: Sequence[PreparedAppend], rows: list[TupleRow]) -> list[Outcome]:
    """Each entry's outcome from acci.append_batch's rows (see its comment in migration 0005):
    its recorded events (every part's, in part order), or the error of the part that failed."""
    failed: dict[int, tuple[int, int, str | None]] = {}
    bases: dict[int, int] = {}
    event_rows: list[TupleRow] = []
    for row in rows:
        part = row[0]
        if part is None:
            event_rows.append(row)
        elif row[1] == 0:
            bases[part] = row[2]
        else:
            failed[part] = (row[1], row[2], row[6])
    outcomes: list[Outcome] = []
    taken = 0
    number = 0
    with gc_paused(len(event_rows)):
        for entry in entries:
            parts = entry.parts
            numbers = range(number + 1, number + len(parts) + 1)
            number += len(parts)
            culprit = next((n for n in numbers if n in failed), None)
            if culprit is not None:
                status, version, detail = failed[culprit]
                part = parts[culprit - numbers[0]]
                outcomes.append(
                    claim_error(
                        status,
                        version,
                        detail,
                        stream=part.stream,
                        expected=part.expected_version,
                        command_id=entry.command_id,
                        command_type=entry.command_type,
                    )
                )
                continue
            recorded: list[RecordedEvent] = []
            for part_number, part in zip(numbers, parts, strict=True):
                count = len(part.types)
                mine = event_rows[taken : taken + count]
                taken += count
                base = bases[part_number]
                if [row[2] for row in mine] != list(range(base + 1, base + count + 1)):
                    raise DatabaseError(
                        f"acci.append_batch answered with other versions than it claimed for {part.stream}; "
                        "the acci schema's functions do not match this runtime: run `acci migrate`."
                    )
                recorded.extend(recorded_events(part, [(r[2], r[3], r[4], r[5]) for r in mine]))
            outcomes.append(recorded)
    return outcomes


def recorded_events(
    entry: PreparedAppend, rows: Sequence[tuple[int, int, int, datetime]]
) -> list[RecordedEvent]:
    """The RecordedEvents of an append from its rows: (version, transaction id, position, time)."""
    stream, meta = entry.stream, entry.metadata
    aggregate_type, aggregate_id = stream.aggregate_type, stream.aggregate_id
    with gc_paused(len(rows)):
        return [
            RecordedEvent(
                id=event.event_id,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                event_type=event_type,
                version=version,
                schema_version=schema_version,
                data_json=data_json,
                metadata=meta,
                timestamp=timestamp,
                position=Position(xid, position),
            )
            for event, (event_type, schema_version, data_json), (version, xid, position, timestamp) in zip(
                entry.events, entry.types, rows, strict=True
            )
        ]


class BatchRefused(Exception):
    """The server refused a coalesced batch as a whole: nothing of it was written."""


def rolled_back(error: psycopg.Error) -> bool:
    """Whether a failed batch is known to have written nothing, so that its appends may be written
    again one by one: an error the server reported says so; a lost connection leaves it unknown."""
    sqlstate = error.sqlstate
    return sqlstate is not None and not sqlstate.startswith(("08", "57P"))


def single_params(prepared: PreparedAppend, notify: bool) -> list[Any]:
    """The parameters of acci.append_event (one event: scalars) or acci.append_events (arrays)."""
    stream, meta, types = prepared.stream, prepared.metadata, prepared.types
    if len(types) == 1:
        event_type, schema_version, data_json = types[0]
        columns: list[Any] = [prepared.events[0].event_id, event_type, schema_version, data_json]
    else:
        columns = [
            [event.event_id for event in prepared.events],
            [t[0] for t in types],
            [t[1] for t in types],
            [t[2] for t in types],
        ]
    return [
        stream.tenant_id,
        stream.aggregate_type,
        stream.aggregate_id,
        prepared.expected_version,
        *columns,
        meta.user_id,
        meta.correlation_id,
        meta.causation_id,
        prepared.extra_json,
        prepared.command_id,
        prepared.command_type or None,
        notify,
        prepared.command_hash,
    ]


async def copy_events(
    conn: psycopg.AsyncConnection[TupleRow], prepared: PreparedAppend, notify: bool
) -> list[TupleRow]:
    """A large append, inside the caller's transaction: claim the versions (the same check as
    acci.append_events), COPY the rows in, then read their positions back."""
    stream, meta = prepared.stream, prepared.metadata
    tenant, aggregate_type, aggregate_id = stream.tenant_id, stream.aggregate_type, stream.aggregate_id
    cur = await conn.execute(
        "SELECT acci.claim_versions(%s, %s, %s, %s::bigint, %s, %s::uuid, %s, %s)",
        [
            tenant,
            aggregate_type,
            aggregate_id,
            prepared.expected_version,
            len(prepared.types),
            prepared.command_id,
            prepared.command_type or None,
            prepared.command_hash,
        ],
    )
    (base,) = await cur.fetchone() or (0,)
    extra = prepared.extra_json or "{}"
    async with conn.cursor() as cursor:
        async with cursor.copy(_COPY_EVENTS) as copy:
            for offset, (event, (event_type, schema_version, data_json)) in enumerate(
                zip(prepared.events, prepared.types, strict=True), start=1
            ):
                await copy.write_row(
                    (
                        event.event_id,
                        tenant,
                        aggregate_type,
                        aggregate_id,
                        base + offset,
                        event_type,
                        schema_version,
                        data_json,
                        meta.user_id,
                        meta.correlation_id,
                        meta.causation_id,
                        extra,
                    )
                )
        await cursor.execute(_COPIED, [tenant, aggregate_type, aggregate_id, base])
        rows = await cursor.fetchall()
    if notify:
        await conn.execute("SELECT acci.notify_appended(%s)", [tenant])
    return rows
