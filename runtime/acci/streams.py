"""Stream identity, expected versions and positions in the global order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from acci.errors import ConfigurationError, shown

#: Append only if the stream has no events yet (the aggregate must not exist).
NO_STREAM: Final = 0
#: Append whatever the stream's version is. Still atomic: versions never collide.
ANY: Final = None

#: An expected version: NO_STREAM, ANY, or the exact version (>= 1) the stream must be at.
ExpectedVersion = int | None

# Aggregate types and event types end up in SQL as values, never as names, but they are also
# Python class names and metric labels, so keep them to a sane alphabet.
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,127}$")


def check_type_name(kind: str, name: str) -> str:
    """Return `name` if it is a valid aggregate or event type name, else raise ConfigurationError."""
    if not _TYPE_NAME.match(name):
        raise ConfigurationError(
            f"{kind} {shown(name)} is not a valid name: use a letter, then letters, digits, '_' or '.', "
            "at most 128 characters."
        )
    return name


@dataclass(frozen=True, slots=True)
class StreamId:
    """A stream: one aggregate instance of one tenant. Two tenants may use the same aggregate id."""

    tenant_id: str
    aggregate_type: str
    aggregate_id: str

    def __post_init__(self) -> None:
        check_type_name("aggregate type", self.aggregate_type)
        if not self.tenant_id:
            raise ConfigurationError("a stream needs a tenant_id; pass the tenant the data belongs to.")
        if not self.aggregate_id:
            raise ConfigurationError(f"a {self.aggregate_type} stream needs a non-empty aggregate_id.")

    def __str__(self) -> str:
        return f"{self.aggregate_type} {shown(self.aggregate_id)} (tenant {shown(self.tenant_id)})"


def stream_order(stream: StreamId) -> tuple[str, str, str]:
    """The order in which an append claims its streams (and a batch its appends): two writers that
    lock streams in the same order cannot deadlock."""
    return (stream.tenant_id, stream.aggregate_type, stream.aggregate_id)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the global order: the writing transaction's id, then the global position.

    Readers order and checkpoint by this pair. A transaction that took its positions early but
    commits late still sorts after everything a reader has already passed, because readers only
    look below the oldest transaction still running (see acci.store.postgres).
    """

    transaction_id: int
    global_position: int

    def __str__(self) -> str:
        return f"{self.transaction_id}/{self.global_position}"


#: The position before the first event.
START: Final = Position(0, 0)


@dataclass(frozen=True, slots=True)
class StreamRange:
    """Versions first_version..last_version of a stream (none when last_version < first_version)."""

    stream: StreamId
    first_version: int
    last_version: int


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A handled command: its events are versions first_version..last_version of `stream`, and,
    for a command appended to several streams at once (`EventStore.append_many`), the ranges in
    `more` of the others. `stream` is then the first of its streams in the order they are locked
    (by tenant, aggregate type and id), so that the same command always names the same one.

    `command_hash` is the hash of the command's data (None when the append named no hash, or for
    a record read back without it)."""

    command_id: UUID
    command_type: str
    stream: StreamId
    first_version: int
    last_version: int
    command_hash: str | None = None
    more: tuple[StreamRange, ...] = ()

    @property
    def ranges(self) -> tuple[StreamRange, ...]:
        """Every stream the command appended to, with its versions: `stream` first."""
        return (StreamRange(self.stream, self.first_version, self.last_version), *self.more)

    def same_command(self, command_type: str, stream: StreamId, command_hash: str | None) -> bool:
        """The idempotency rule: a command id names one command of a tenant. Seen again with the
        same type, stream and data hash it is a repeat (its first result stands); with anything
        else it is a reuse of the id for another command, which is refused. A hash missing on
        either side is not compared. acci.seen_command (migration 0005) is the same rule in SQL."""
        return (
            self.command_type == command_type
            and self.stream == stream
            and (self.command_hash is None or command_hash is None or self.command_hash == command_hash)
        )
