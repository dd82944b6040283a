"""The errors ACCI raises: one tree under `AcciError`.

Every message says what failed, for which stream or command, and what to do about it. psycopg's
errors are translated into this tree at a single boundary, `acci.store._pg_errors.translate`, by
SQLSTATE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

if TYPE_CHECKING:
    from acci.streams import CommandRecord, StreamId

#: Identifiers come from callers and can be of any length (a 1 MB aggregate id made a message of
#: a million characters): messages show this many characters of one, then say how long it was.
SHOWN_CHARACTERS = 80


def shown(value: object) -> str:
    """`value` quoted for a message, cut to SHOWN_CHARACTERS characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= SHOWN_CHARACTERS:
        return repr(text)
    return f"{text[:SHOWN_CHARACTERS]!r}... ({len(text):,} characters)"


class AcciError(Exception):
    """The root of every error ACCI raises on purpose.

    Errors survive pickling (process pools, pytest-xdist, task queues): like psycopg's errors they
    define `__reduce__`, which rebuilds one from the arguments it was made with, because the
    constructors take structured values (a stream, versions), not the message.
    """

    _arguments: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        error = super().__new__(cls, *args)
        error._arguments = (args, kwargs)
        return error

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = self._arguments
        state = {name: value for name, value in self.__dict__.items() if name != "_arguments"}
        return (_rebuild, (type(self), args, kwargs), state)


def _rebuild(cls: type[AcciError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> AcciError:
    return cls(*args, **kwargs)


class ConfigurationError(AcciError):
    """ACCI was set up wrongly: a missing setting, an unknown event type, a bad name."""


class DatabaseError(AcciError):
    """The database failed in a way ACCI has no more specific error for.

    `sqlstate` holds PostgreSQL's code when there is one; the original psycopg error is `__cause__`.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class TransientDatabaseError(DatabaseError):
    """A failure that may pass if the same work is tried again: a lost connection, a serialization
    failure, a deadlock, the server shutting down."""


class MigrationError(AcciError):
    """A schema migration could not be applied, or an applied one has changed on disk."""


class ConcurrencyError(AcciError):
    """An append expected a stream version that was not the stream's version when it ran.

    Nothing was written. Reload the aggregate and decide again (command handlers do this by
    themselves when they allow retries).
    """

    def __init__(self, stream: StreamId, expected: int | None, actual: int) -> None:
        wanted = "no stream" if expected == 0 else f"version {expected}"
        # actual < 0: the version row agreed, but another writer (one that bypassed the append
        # function) had stored an event at the same version.
        found = "no stream" if actual == 0 else f"version {actual}" if actual > 0 else "another event there"
        super().__init__(
            f"concurrency conflict on stream {stream}: expected {wanted}, found {found}; "
            "nothing was written. Reload the aggregate and decide again."
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class VersionMismatch(ConcurrencyError):
    """A command was sent expecting the aggregate at a version (HTTP `If-Match`) and the aggregate
    is at another: the sender decided on a state that is no longer current. Nothing was written.
    Read the aggregate again and decide whether to send the command."""

    def __init__(self, stream: StreamId, expected: int, actual: int) -> None:
        AcciError.__init__(
            self,
            f"{stream} is at version {actual}, not at the expected version {expected}; the command was "
            "not handled and nothing was written. Read the aggregate again, then send the command with "
            "its current version.",
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class DuplicateCommandError(AcciError):
    """A command id was already recorded for this same command. Command handlers catch this and
    return the first result; `record` (when the store read it) says where its events are."""

    def __init__(self, tenant_id: str, command_id: UUID, record: CommandRecord | None = None) -> None:
        super().__init__(
            f"command {command_id} of tenant {shown(tenant_id)} was already handled; nothing was written. "
            "Look up its first result instead of sending it again."
        )
        self.tenant_id = tenant_id
        self.command_id = command_id
        self.record = record


class CommandIdReused(AcciError):
    """A command id (an idempotency key) that was recorded for one command came with another: a
    different command type, aggregate or data. Nothing was written and the first command stands."""

    def __init__(self, command_id: UUID, first: CommandRecord, command_type: str, stream: StreamId) -> None:
        if first.stream != stream:
            what = f"for {first.command_type or 'an append'} on {first.stream}"
        elif first.command_type != command_type:
            what = f"for {first.command_type or 'a plain append'} on the same stream"
        else:
            what = "for the same command type and stream with other data"
        super().__init__(
            f"command id {command_id} of tenant {shown(stream.tenant_id)} was already used {what}; this "
            f"{command_type or 'append'} on {stream} was not handled and nothing was written. A command "
            "id is the idempotency key of one command: send a new command with a new id."
        )
        self.command_id = command_id
        self.first = first
        self.command_type = command_type
        self.stream = stream


class DuplicateEventError(AcciError):
    """An appended event has an id that is already stored (event ids are unique in the whole store).

    Nothing was written. Unlike a ConcurrencyError, deciding again does not help.
    """

    def __init__(self, stream: StreamId, event_id: UUID | None) -> None:
        which = f"event id {event_id}" if event_id is not None else "an event id"
        super().__init__(
            f"{which} appended to {stream} is already stored; nothing was written. Give each new "
            "event a new id (NewEvent does), and send a command again under its first command id, "
            "which returns the first result instead of appending twice."
        )
        self.stream = stream
        self.event_id = event_id


class AggregateNotFound(AcciError):
    """A command needed an existing aggregate and the stream has no events."""

    def __init__(self, stream: StreamId) -> None:
        super().__init__(f"{stream} does not exist; create it first, or check the id and the tenant.")
        self.stream = stream


class AggregateAlreadyExists(AcciError):
    """A command that creates an aggregate found the stream already written."""

    def __init__(self, stream: StreamId, version: int) -> None:
        super().__init__(
            f"{stream} already exists (version {version}); use a new id, or send a command that "
            "changes the existing aggregate."
        )
        self.stream = stream
        self.version = version


class CommandRejected(AcciError):
    """A command broke a business rule. Nothing was appended.

    `reason` is the rule in words, shown to whoever sent the command; `code` is a stable name
    for it that callers can match on.
    """

    def __init__(self, reason: str, *, code: str = "rejected", details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.details = details or {}


class CommandValidationError(CommandRejected):
    """A command's data failed validation before the aggregate was even loaded."""

    def __init__(self, command_type: str, problems: list[str]) -> None:
        listing = "; ".join(problems)
        super().__init__(
            f"command {command_type} is invalid: {listing}. Fix the command's data and send it again.",
            code="invalid",
            details={"problems": problems},
        )
        self.command_type = command_type
        self.problems = problems


class UnknownEventType(AcciError):
    """A stored event has a type (or schema version) no class is registered for."""

    def __init__(self, event_type: str, schema_version: int, known: list[str]) -> None:
        hint = f" Known types: {', '.join(sorted(known))}." if known else ""
        super().__init__(
            f"no event class is registered for {shown(event_type)} at schema version {schema_version}; "
            f"register it (and an upcaster for older versions) in the EventRegistry.{hint}"
        )
        self.event_type = event_type
        self.schema_version = schema_version


class EventDecodeError(AcciError):
    """A stored event's data does not fit its class."""

    def __init__(self, event_type: str, schema_version: int, position: str, problem: str) -> None:
        super().__init__(
            f"event {event_type} v{schema_version} at {position} does not fit its class: {problem}. "
            "Add or fix the upcaster for this version."
        )
        self.event_type = event_type
        self.schema_version = schema_version


class ProjectionHalted(AcciError):
    """A projection stopped at an event its handler kept failing on (its poison policy is "halt").

    Fix the handler, then replay the dead letters (`acci projections replay`), which resumes it.
    """

    def __init__(self, projection: str, detail: str = "") -> None:
        super().__init__(
            f"projection {shown(projection)} is halted{': ' + detail if detail else ''}. Fix its "
            "handler, then replay its dead letters to resume it."
        )
        self.projection = projection


class ProjectionBusy(AcciError):
    """Another runner held a projection's lock the whole time this one waited: nothing was applied,
    and whether the projection is caught up is unknown."""

    def __init__(self, projection: str, waited: float, holder: str = "") -> None:
        by = f" ({holder})" if holder else ""
        super().__init__(
            f"projection {shown(projection)} is being run by another runner{by}: it held the "
            f"projection's lock for all of {waited:g} s, so this call applied nothing. Leave the work to "
            "that runner (`acci projections status` shows the lag), or stop it and run again."
        )
        self.projection = projection
        self.waited = waited
        self.holder = holder


class ConsistencyTimeout(AcciError):
    """A read waited for read models to pass a position (read-your-writes) and they did not within
    the timeout: their runners are behind or stopped, or a replica lags. Nothing was read; retrying
    later may succeed."""

    def __init__(self, projections: list[str], position: str, waited: float, why: str = "") -> None:
        names = ", ".join(shown(p) for p in projections)
        super().__init__(
            f"the read model(s) {names} did not reach position {position} within {waited:g} s, so the "
            f"query was not answered{f' ({why})' if why else ''}. Try again shortly; if it persists, "
            "check that their runners are running (`acci projections status`) and, for a replica, "
            "its replay lag."
        )
        self.projections = projections
        self.position = position
        self.waited = waited
        #: What held them back, as far as the read database could tell (a replica's replay lag,
        #: a checkpoint behind).
        self.why = why


class TenantMoved(AcciError):
    """A write reached a database that a tenant has moved away from, or one it is being moved
    from (`acci tenants move`). Nothing was written: look the tenant up again and retry (the
    store of a TenantRouter does so itself, for a while)."""

    def __init__(self, tenant_id: str, moving: bool = False) -> None:
        state = "is being moved to another database" if moving else "has moved to another database"
        super().__init__(
            f"tenant {shown(tenant_id)} {state}, so nothing was written here. Retry: the tenant "
            "directory names its database (`acci tenants list`)."
        )
        self.tenant_id = tenant_id
        self.moving = moving


class ProjectionFailed(AcciError):
    """A projection handler failed where failing fast is the policy (rebuilds, checks)."""

    def __init__(self, projection: str, event: str, problem: str) -> None:
        super().__init__(
            f"projection {shown(projection)} failed on {event}: {problem}. Nothing of this run was kept; "
            "fix the handler and run it again."
        )
        self.projection = projection


class PolicyCommandRejected(AcciError):
    """A command a policy (or one of its deadlines) sent was rejected, and the policy says to
    dead-letter it rather than send a compensation or let it be. The event (or the deadline) is
    parked; fix the cause, then replay the policy's dead letters (or retry its deadlines)."""

    def __init__(self, policy: str, command_type: str, command_id: UUID, cause: str, reason: str) -> None:
        super().__init__(
            f"policy {shown(policy)} sent {command_type} (command {command_id}) for {cause}, and it was "
            f"rejected: {reason}. The policy dead-letters it: fix the cause, then replay the policy's "
            "dead letters (`acci dead-letters replay`) or retry its failed deadlines."
        )
        self.policy = policy
        self.command_type = command_type
        self.command_id = command_id
        self.reason = reason


class InvalidQuery(AcciError):
    """A query's parameters failed validation; nothing was read."""

    def __init__(self, query: str, problems: list[str]) -> None:
        super().__init__(
            f"query {query} is invalid: {'; '.join(problems)}. Fix the parameters and ask again."
        )
        self.query = query
        self.problems = problems
