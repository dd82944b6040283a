"""What the generated routers (`<domain>/api.py`) share: the dependencies that turn a request into
a command or a read, and the response models.

A command route validates its body (the command's fields that are not in the path) and sends the
command with the caller's tenant and user, the request's correlation id, the command id of its
Idempotency-Key and the expected version of its If-Match; the answer names the events, the new
version (also as the ETag) and the position (also as the `Acci-Position` header: send it back as
`Acci-Min-Position` to read your own write). A query route waits until the read model it reads has
passed the position given (`min_position`, or the `Acci-Min-Position` / `X-Consistency-Token`
header), then reads for the caller's tenant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel, Field, ValidationError

from acci.aggregate import Aggregate
from acci.commands import Command, CommandData, CommandHandlerBase, CommandMetadata, CommandResult
from acci.errors import CommandValidationError
from acci.http import concurrency
from acci.http.context import HttpContext, context_of, http_context
from acci.http.cursors import invalid_cursor
from acci.http.identity import Identity
from acci.http.problems import FieldProblem, HttpProblem, responses
from acci.projections.base import Projection
from acci.projections.consistency import wait_until_passed
from acci.registry import EventRegistry
from acci.repository import Repository
from acci.store.postgres import PostgresEventStore
from acci.streams import Position, StreamId

POSITION_HEADER = "Acci-Position"
MIN_POSITION_HEADER = "Acci-Min-Position"
TOKEN_HEADER = "X-Consistency-Token"
#: A position as a command response gives it: "<transaction id>/<global position>".
POSITION_PATTERN = r"^[0-9]{1,19}/[0-9]{1,19}$"

COMMAND_RESPONSES = responses(400, 401, 404, 409, 412, 422, 428, 503)
QUERY_RESPONSES = responses(401, 404, 422, 503)
READ_RESPONSES = responses(401, 404, 422, 503)

R = TypeVar("R", bound=BaseModel)
S = TypeVar("S", bound=BaseModel)


# -- responses ------------------------------------------------------------------------------------


class EventInfo(BaseModel):
    type: str
    version: int
    id: UUID
    position: str


class CommandResponse(BaseModel):
    """What a handled command did."""

    command_id: UUID = Field(description="The command's id (from Idempotency-Key when one was sent).")
    events: list[EventInfo] = Field(description="The events it appended (for a replay: the first time).")
    version: int = Field(description="The aggregate's version after them (its new ETag).")
    position: str | None = Field(
        description="Where its last event is in the global order: pass it as Acci-Min-Position to a query "
        "to read your own write. None when it appended nothing."
    )
    replayed: bool = Field(description="True when the command id had been handled before: nothing new.")

    @classmethod
    def of(cls, command_id: UUID, result: CommandResult) -> CommandResponse:
        return cls(
            command_id=command_id,
            events=[
                EventInfo(type=e.event_type, version=e.version, id=e.id, position=str(e.position))
                for e in result.events
            ],
            version=result.version,
            position=str(result.position) if result.position is not None else None,
            replayed=result.replayed,
        )


class Page(BaseModel, Generic[R]):
    """One page of a keyset-paged query: `next` is the cursor of the page after it (None: last)."""

    items: list[R]
    next: str | None


class Items(BaseModel, Generic[R]):
    items: list[R]


class State(BaseModel, Generic[S]):
    """An aggregate's current state and version (the version is also its ETag)."""

    id: str
    version: int
    state: S


class HistoryEvent(BaseModel):
    type: str
    version: int
    id: UUID
    position: str
    timestamp: datetime
    data: dict[str, Any]


class History(BaseModel):
    """One page of an aggregate's events, oldest first; `next` is the cursor of the page after it."""

    items: list[HistoryEvent]
    next: str | None


# -- the caller ----------------------------------------------------------------------------------


Context = Annotated[HttpContext, Depends(http_context)]


# The routes' own dependencies read the context from the request (context_of) rather than take
# it as a sub-dependency: FastAPI solves every sub-dependency of every request anew.


async def caller(request: Request) -> Identity:
    return await context_of(request).identity(request)


Caller = Annotated[Identity, Depends(caller)]


# -- commands ------------------------------------------------------------------------------------


def command_data(command_class: type[CommandData], values: Mapping[str, Any]) -> CommandData:
    """The command's data from the body and the path; CommandValidationError (422) if invalid."""
    try:
        return command_class.model_validate(values)
    except ValidationError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()]
        raise CommandValidationError(command_class.command_type, problems) from None


class CommandSender:
    """Sends one command of a request (see the module docstring)."""

    def __init__(
        self,
        context: HttpContext,
        identity: Identity,
        correlation_id: str,
        command_id: UUID,
        expected_version: int | None,
        response: Response,
    ) -> None:
        self.context = context
        self.identity = identity
        self.correlation_id = correlation_id
        self.command_id = command_id
        self.expected_version = expected_version
        self.response = response

    async def __call__(
        self,
        handler_class: type[CommandHandlerBase[Any, Any, Any]],
        command_class: type[CommandData],
        body: BaseModel | None,
        *,
        existing: bool,
        several: bool = False,
        **path: Any,
    ) -> CommandResponse:
        """Send the command made of `body` and the `path` parameters; `existing`: the command is
        for an aggregate that must exist (If-Match may be required for it); `several`: it is a
        command on several aggregates, which have no one version to match."""
        if several and self.expected_version is not None:
            raise HttpProblem(
                400,
                "if-match-not-applicable",
                "If-Match does not apply to this command",
                f"{command_class.command_type} changes several aggregates, each with its own version: "
                "send it without If-Match (a conflict on any of them is retried, then answered 409).",
            )
        if existing and self.expected_version is None and self.context.settings.require_if_match:
            raise HttpProblem(
                428,
                "if-match-required",
                "If-Match is required",
                f"{command_class.command_type} changes an existing aggregate: send the version you read "
                'as If-Match: "<version>" (the ETag of its GET).',
            )
        values = {name: getattr(body, name) for name in type(body).model_fields} if body is not None else {}
        data = command_data(command_class, {**values, **path})
        metadata = CommandMetadata(
            user_id=self.identity.user_id,
            tenant_id=self.identity.tenant_id,
            correlation_id=self.correlation_id,
            timestamp=self.context.clock(),
        )
        handler = handler_class(self.context.command_store())
        result = await handler.handle(
            Command(data, metadata, id=self.command_id), expected_version=self.expected_version
        )
        if not several:
            self.response.headers["ETag"] = concurrency.etag(result.version)
        if result.position is not None:
            self.response.headers[POSITION_HEADER] = str(result.position)
        return CommandResponse.of(self.command_id, result)


async def command_sender(
    request: Request,
    response: Response,
    identity: Caller,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=concurrency.IDEMPOTENCY_KEY,
            description="Makes a retry the same command: handled once, answered with the first result.",
            min_length=1,
            max_length=concurrency.MAX_KEY_LENGTH,
        ),
    ] = None,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The version the command expects, e.g. "3" (412 if not).',
            pattern=concurrency.ETAG_PATTERN,
        ),
    ] = None,
) -> CommandSender:
    return CommandSender(
        context_of(request),
        identity,
        request.state.correlation_id,
        concurrency.command_id(idempotency_key),
        concurrency.expected_version(if_match),
        response,
    )


Sender = Annotated[CommandSender, Depends(command_sender)]


# -- reads ---------------------------------------------------------------------------------------


def parse_position(text: str) -> Position:
    """A position as CommandResponse.position writes it ("<transaction>/<position>"); 422 if not."""
    xid, sep, position = text.strip().partition("/")
    if not sep or not xid.isdigit() or not position.isdigit() or len(text) > 60:
        raise HttpProblem(
            422,
            "invalid-position",
            "The position is invalid",
            f"the position {text[:60]!r} is not one a command response gave; send its `position` as it is.",
            errors=[FieldProblem(field="header.Acci-Min-Position", message="not a position")],
        )
    return Position(int(xid), int(position))


class Reader:
    """Reads for one request: the caller's tenant, the position to wait for, the cursors."""

    def __init__(
        self,
        context: HttpContext,
        identity: Identity,
        min_position: Position | None,
        store: PostgresEventStore,
    ) -> None:
        self.context = context
        self.identity = identity
        self.min_position = min_position
        #: The caller's tenant's database (with its read replica, if it has one).
        self.store = store

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    async def consistent(self, *projections: str) -> None:
        """Wait until the named read models have passed the request's position (if it gave one)."""
        if self.min_position is None:
            return
        read: Sequence[Projection] = [self.context.projections[name] for name in projections]
        # Where the queries read: the primary, or the streaming replica of ACCI_DATABASE__READ_URL.
        await wait_until_passed(
            # The pool the queries read from: on a replica, its checkpoints as far as it replayed them.
            self.store.read_pool,
            read,
            self.min_position,
            within=self.context.settings.consistency_timeout,
        )

    def after(self, query: str, cursor: str | None, row: type[R]) -> R | None:
        """The row a keyset page continues after, from the cursor of the previous page."""
        if cursor is None:
            return None
        value = self.context.cursors.decode(query, cursor)
        try:
            found = row.model_validate(value)
        except ValidationError:
            raise invalid_cursor(f"it is not a cursor of {query}") from None
        if getattr(found, "tenant_id", self.tenant_id) != self.tenant_id:
            raise invalid_cursor("it belongs to another tenant")
        return found

    def next_cursor(self, query: str, rows: Sequence[BaseModel], limit: int | None) -> str | None:
        """The cursor of the page after `rows` when the page is full, else None."""
        full = limit is not None and len(rows) >= limit > 0
        return self.context.cursors.encode(query, rows[-1].model_dump(mode="json")) if full else None

    def one(self, query: str, row: R | None) -> R:
        if row is None:
            raise HttpProblem(404, "not-found", "Nothing found", f"the query {query} found nothing.")
        return row

    async def state(
        self, aggregate_class: type[Aggregate[S]], aggregate_id: str, response: Response
    ) -> tuple[int, S]:
        """The aggregate's version and current state, the version also as the ETag; 404 if it
        does not exist."""
        if "\x00" in aggregate_id:  # no stream can have it (PostgreSQL text holds no NUL)
            raise self._missing(StreamId(self.tenant_id, aggregate_class.aggregate_type, aggregate_id))
        aggregate = await Repository(self.store, aggregate_class).load(self.tenant_id, aggregate_id)
        if not aggregate.exists or aggregate.state is None:
            raise self._missing(aggregate.stream)
        response.headers["ETag"] = concurrency.etag(aggregate.version)
        return aggregate.version, aggregate.state

    async def history(
        self,
        aggregate_class: type[Aggregate[Any]],
        aggregate_id: str,
        registry: EventRegistry,
        cursor: str | None,
        limit: int,
    ) -> History:
        """A page of the aggregate's events, oldest first; 404 if it has none."""
        kind = f"{aggregate_class.aggregate_type}.events"
        after = 0
        if cursor is not None:
            after = self.context.cursors.decode(kind, cursor)
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                raise invalid_cursor(f"it is not a cursor of {kind}")
        stream = StreamId(self.tenant_id, aggregate_class.aggregate_type, aggregate_id)
        if "\x00" in aggregate_id:  # no stream can have it (PostgreSQL text holds no NUL)
            raise self._missing(stream)
        events = await self.store.read_stream(stream, from_version=after, to_version=after + limit)
        if not events and after == 0:
            raise self._missing(stream)
        items = [
            HistoryEvent(
                type=e.event_type,
                version=e.version,
                id=e.id,
                position=str(e.position),
                timestamp=e.timestamp,
                data=registry.decode(e).model_dump(mode="json"),
            )
            for e in events
        ]
        full = len(events) == limit
        return History(
            items=items, next=self.context.cursors.encode(kind, events[-1].version) if full else None
        )

    @staticmethod
    def _missing(stream: StreamId) -> HttpProblem:
        return HttpProblem(
            404,
            "not-found",
            "The aggregate does not exist",
            f"{stream.aggregate_type} {stream.aggregate_id!r} does not exist (for this tenant).",
        )


async def reader(
    request: Request,
    identity: Caller,
    min_position: Annotated[
        str | None,
        Header(
            alias=MIN_POSITION_HEADER,
            description="Wait until the read model has passed this position (a command's `position`).",
            pattern=POSITION_PATTERN,
        ),
    ] = None,
    consistency_token: Annotated[
        str | None,
        Header(alias=TOKEN_HEADER, description="The same as Acci-Min-Position.", pattern=POSITION_PATTERN),
    ] = None,
) -> Reader:
    given = min_position if min_position is not None else consistency_token
    position = parse_position(given) if given is not None else None
    context = context_of(request)
    return Reader(context, identity, position, await context.store_for(identity.tenant_id))


Read = Annotated[Reader, Depends(reader)]
