"""Loading aggregates: the statement that reads one stream, and the one that reads many at once.

Concurrent loads of one process (the lanes of an integration consumer, the requests of an HTTP
service) are coalesced like appends (acci.store._coalesce): a load that finds none in flight goes
alone (LOAD_STREAM); loads that arrive while one is in flight go together in one LOAD_STREAMS
statement, one round trip for all of them. Each stream is still read by its own lateral reads
within one statement, so each load stays a consistent read of its stream, its snapshot and its
command record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.rows import TupleRow

from acci.streams import StreamId

#: `to_version` and `as_of` when no bound was asked for.
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
MAX_VERSION = 2**62

_PARAMS = ("tenant", "aggregate_type", "aggregate_id", "command", "hash", "to_version", "as_of")

# The columns both statements answer (LOAD_STREAMS puts the request's number first): the command
# record (7), the snapshot (5), then the event (15).
_COLUMNS = """
       c.command_type, c.aggregate_type, c.aggregate_id, c.first_version, c.last_version, c.command_hash,
       c.other_streams, s.version, CASE WHEN coalesce(e.n, 1) = 1 THEN s.state END, s.schema_hash,
       s.event_timestamp, s.taken_at,
       e.id, e.tenant_id, e.aggregate_type, e.aggregate_id, e.event_type, e.version, e.schema_version,
       e.data, e.user_id, e.correlation_id, e.causation_id, e.metadata, e."timestamp", e.xid,
       e.global_position"""

# The three reads of one load, on the values named in _PARAMS. `OFFSET 0` keeps the command record
# and snapshot reads as lookups by key for each request: without it PostgreSQL may merge them into
# the join and hash-join the requests with a whole scan of the table, and a prepared statement
# keeps that plan once it chose it on small tables (18 ms per load at 100,000 command records).
# The events read is a lookup already (its window function keeps it apart).
_READS = """
  LEFT JOIN LATERAL (
        SELECT command_type, aggregate_type, aggregate_id, first_version, last_version, command_hash,
               other_streams::text AS other_streams
          FROM acci.commands WHERE tenant_id = {tenant} AND command_id = {command}
        OFFSET 0) AS c ON true
  LEFT JOIN LATERAL (
        SELECT version, state::text AS state, schema_hash, event_timestamp, "timestamp" AS taken_at
          FROM acci.snapshots
         WHERE tenant_id = {tenant} AND aggregate_type = {aggregate_type} AND aggregate_id = {aggregate_id}
           AND schema_hash = {hash} AND version <= {to_version} AND event_timestamp <= {as_of}
        OFFSET 0) AS s ON true
  LEFT JOIN LATERAL (
        SELECT row_number() OVER (ORDER BY version) AS n, id, tenant_id, aggregate_type, aggregate_id,
               event_type, version, schema_version, data::text AS data, user_id, correlation_id,
               causation_id, metadata::text AS metadata, "timestamp",
               transaction_id::text::bigint AS xid, global_position
          FROM acci.events
         WHERE tenant_id = {tenant} AND aggregate_type = {aggregate_type} AND aggregate_id = {aggregate_id}
           AND version > coalesce(s.version, 0) AND version <= {to_version} AND "timestamp" <= {as_of}
       ) AS e ON true"""


def _statement(head: str, param: Callable[[str], str], order: str) -> str:
    reads = _READS.format(**{name: param(name) for name in _PARAMS})
    return f"{head}{reads}\n ORDER BY {order}"


#: One stream: its command record (when asked), its newest usable snapshot (its state on the first
#: row only) and the events after it; a row with no event columns means there were none.
LOAD_STREAM = _statement(
    f"SELECT {_COLUMNS}\n  FROM (SELECT 1) AS one",  # noqa: S608 - constant text, no input
    lambda name: f"%({name})s",
    "e.version",
)

#: Many streams, each as LOAD_STREAM reads it, numbered by the request (from 1) in the first column.
#: The arrays go in binary (%b), as the append's do: psycopg's text array dumper quotes every
#: element in Python (it was the consumer's largest single cost per message).
LOAD_STREAMS = _statement(
    f"SELECT r.n, {_COLUMNS}\n"  # noqa: S608 - constant text, no input
    "  FROM unnest(%(tenant)b::text[], %(aggregate_type)b::text[], %(aggregate_id)b::text[],\n"
    "              %(command)b::uuid[], %(hash)b::text[], %(to_version)b::bigint[],\n"
    "              %(as_of)b::timestamptz[])\n"
    f"       WITH ORDINALITY AS r({', '.join(_PARAMS)}, n)",
    lambda name: f"r.{name}",
    "r.n, e.version",
)


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """One load: the stream, the bounds, and the command whose record is asked for."""

    stream: StreamId
    schema_hash: str | None
    to_version: int | None
    as_of: datetime | None
    command: tuple[str, UUID] | None

    def params(self) -> dict[str, Any]:
        """LOAD_STREAM's parameters."""
        stream = self.stream
        return {
            "tenant": stream.tenant_id,
            "aggregate_type": stream.aggregate_type,
            "aggregate_id": stream.aggregate_id,
            "command": self.command[1] if self.command is not None else None,
            "hash": self.schema_hash,  # None: no snapshot matches
            "to_version": MAX_VERSION if self.to_version is None else self.to_version,
            "as_of": FAR_FUTURE if self.as_of is None else self.as_of,
        }


def load_params(requests: Sequence[LoadRequest]) -> dict[str, list[Any]]:
    """LOAD_STREAMS' parameters: one array per value, one element per request."""
    columns: dict[str, list[Any]] = {name: [] for name in _PARAMS}
    for request in requests:
        for name, value in request.params().items():
            columns[name].append(value)
    return columns


def split_rows(rows: list[TupleRow], count: int) -> list[list[TupleRow]]:
    """LOAD_STREAMS' rows as LOAD_STREAM would have answered each of `count` requests."""
    answers: list[list[TupleRow]] = [[] for _ in range(count)]
    for row in rows:
        answers[row[0] - 1].append(row[1:])
    return answers
