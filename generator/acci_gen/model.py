"""The parsed, validated domain: plain dataclasses the renderers read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCALARS = ("string", "int", "decimal", "bool", "uuid", "date", "datetime", "email")
NUMERIC = ("int", "decimal")
#: What an `email` value must look like (checked by acci-gen and by the generated classes).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
#: The metadata a command is handled with (`metadata.<field>` in mappings), by type.
METADATA_FIELDS = {
    "user_id": "string",
    "tenant_id": "string",
    "correlation_id": "string",
    "timestamp": "datetime",
    "command_id": "uuid",
}
#: What a projection handler may read of a stored event besides its payload (`envelope.<field>`).
ENVELOPE_FIELDS = {
    "timestamp": "datetime",
    "aggregate_id": "string",
    "version": "int",
    "event_id": "uuid",
    "user_id": "string",
    "tenant_id": "string",
}
#: What a projection handler may read of a stored event's metadata (`metadata.<field>`).
EVENT_METADATA_FIELDS = {"correlation_id": "string", "user_id": "string", "causation_id": "string"}

#: What a consumer's mapping may read of a message besides its payload (`envelope.<field>`).
INTEGRATION_ENVELOPE_FIELDS = {
    "event_id": "uuid",
    "tenant_id": "string",
    "domain": "string",
    "aggregate_id": "string",
    "aggregate_version": "int",
    "occurred_at": "datetime",
    "correlation_id": "string",
}

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


@dataclass(frozen=True)
class TypeRef:
    """A field type: a scalar, a named enum or object of `types:`, or a list of one of those."""

    kind: str  # a scalar name, "enum", "object" or "list"
    name: str  # the scalar or named type; for lists the item's name
    item: TypeRef | None = None
    #: A type of a contract (`public_types:`, or a publisher's as a consumer reads it), apart from
    #: `types:` even when the names are equal: a value crosses between them only by a checked
    #: conversion (an enum by value, an object field by field).
    public: bool = False

    @property
    def text(self) -> str:
        return f"list[{self.item.text}]" if self.item is not None else self.name


@dataclass
class Field:
    name: str
    type: TypeRef
    optional: bool = False
    default: Any = MISSING
    description: str = ""
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    example: Any = MISSING
    #: A decimal's most significant digits and digits after the point.
    precision: int | None = None
    scale: int | None = None

    @property
    def required(self) -> bool:
        """True when a value must be given (no default, not optional)."""
        return not self.optional and self.default is MISSING

    @property
    def nullable(self) -> bool:
        return self.optional


@dataclass
class NamedType:
    name: str
    description: str = ""
    values: list[str] | None = None  # an enum
    fields: list[Field] = field(default_factory=list)  # an object

    @property
    def is_enum(self) -> bool:
        return self.values is not None


@dataclass
class Aggregate:
    name: str
    identity: str
    state: list[Field]
    description: str = ""
    snapshot_every: int | None = None

    def field(self, name: str) -> Field | None:
        return next((f for f in self.state if f.name == name), None)


@dataclass
class Expr:
    """A value in a mapping: a reference (`command.email`), a literal, or arithmetic on them
    (`calc`: `args[0] <operator> args[1]`; `len`: the length of `args[0]`)."""

    #: "command", "state", "metadata", "event", "envelope", "literal", "calc", "len" or "object"
    #: (an object of the type `name`, its fields' names in `literal` and values in `args`)
    source: str
    name: str = ""
    literal: Any = None
    op: str = "set"  # for aggregate apply: set, add, subtract, append, remove
    operator: str = ""  # for calc: + - * /
    args: list[Expr] = field(default_factory=list)
    #: The type of a calc, a len or a number literal of an expression (refs: their field's).
    type: TypeRef | None = None

    def refs(self) -> list[Expr]:
        """The references it reads (itself, or those of its arguments)."""
        if self.source in ("calc", "len", "object"):
            return [ref for arg in self.args for ref in arg.refs()]
        return [] if self.source == "literal" else [self]


@dataclass
class Apply:
    target: str  # the state field
    expr: Expr


@dataclass(frozen=True)
class Step:
    """A declarative upcast step (see acci_gen.evolution.steps): add, rename, remove, map, split,
    combine, with its arguments as written in the YAML."""

    kind: str
    args: Any


@dataclass
class OldVersion:
    """An older schema version of an event: its fields, and how it becomes the next version."""

    version: int
    fields: list[Field]
    steps: list[Step] = field(default_factory=list)
    #: A hand-written upcaster runs after the steps.
    custom: bool = False
    example: dict[str, Any] | None = None
    #: What `example` reads as in the current version (checks hand-written upcasters).
    expected: dict[str, Any] | None = None


@dataclass
class Event:
    name: str
    aggregate: str
    fields: list[Field]
    version: int = 1
    description: str = ""
    applies: list[Apply] = field(default_factory=list)
    #: Older versions, oldest first.
    versions: list[OldVersion] = field(default_factory=list)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass
class Emit:
    event: str
    mapping: list[tuple[str, Expr]]
    #: For a command on several aggregates: the role whose stream the event goes to.
    role: str = ""


@dataclass
class Role:
    """An aggregate a command on several aggregates names: its role, the command field that
    identifies it, and what must hold of it."""

    name: str
    aggregate: str
    identity: str
    precondition: str = "none"


@dataclass
class Rule:
    """A condition on the command and the state that must hold, else CommandRejected(code)."""

    left: Expr
    op: str
    right: Expr
    code: str
    message: str
    text: str


@dataclass(frozen=True)
class HttpRoute:
    """A command's HTTP route as the domain file overrides it (acci_gen.http_routes has the
    convention)."""

    method: str
    path: str


@dataclass
class Command:
    name: str
    aggregate: str
    fields: list[Field]
    precondition: str = "none"  # none, must_exist, must_not_exist
    rules: list[Rule] = field(default_factory=list)
    emits: list[Emit] = field(default_factory=list)
    custom: bool = False
    description: str = ""
    http: HttpRoute | None = None
    #: Reloads and decides again this often after a ConcurrencyError.
    retries_on_conflict: int = 0
    #: A command on several aggregates: its roles (then `aggregate` is empty).
    roles: list[Role] = field(default_factory=list)

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass
class Scenario:
    name: str
    command: str
    command_data: dict[str, Any]
    given: list[tuple[str, dict[str, Any]]]
    then_events: list[tuple[str, dict[str, Any]]] | None
    then_error: str | None
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: For a command on several aggregates: the given and expected events by role.
    given_roles: dict[str, list[tuple[str, dict[str, Any]]]] | None = None
    then_roles: dict[str, list[tuple[str, dict[str, Any]]]] | None = None


@dataclass
class Projection:
    """A read model: its table, key, columns and how each event changes it."""

    name: str
    table: str
    key: str
    columns: list[Field]
    handlers: dict[str, dict[str, Any]]
    description: str = ""
    #: Updated in the append's own transaction rather than by a runner.
    inline: bool = False
    #: An aggregate whose state the table holds, one row per stream (`from_state:`).
    from_state: str = ""
    #: Event -> the condition (left, op, right) under which its handler runs (`when:`).
    conditions: dict[str, tuple[Expr, str, Expr]] = field(default_factory=dict)
    #: Read-model scenarios: (name, given events, rows).
    scenarios: list[tuple[str, list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]] = field(
        default_factory=list
    )
    #: Segments its runner splits it into (None: the service's setting).
    segments: int | None = None


@dataclass
class Query:
    name: str
    projection: str
    params: list[Field]
    filters: list[Any]
    order_by: list[tuple[str, str]]
    limit: Any
    offset: Any
    returns: str
    description: str = ""
    #: "keyset": pages continue after the last row of the previous page (no offset).
    paginate: str | None = None


@dataclass
class PolicyEffect:
    """What a policy does for one event: send a command now, or schedule it (a deadline)."""

    kind: str  # "send" or "schedule"
    command: str
    mapping: list[tuple[str, Expr]]
    #: The condition on the event (left, op, right), if any, and as written.
    condition: tuple[Expr, str, Expr] | None = None
    condition_text: str = ""
    #: "dead_letter", "ignore", or "compensate" (then `compensation` is set).
    on_rejected: str = "dead_letter"
    compensation: tuple[str, list[tuple[str, Expr]]] | None = None
    #: For a schedule: the deadline's name, its key, and when (after, in seconds; or at a field).
    deadline: str = ""
    key: Expr | None = None
    after: dict[str, int] | None = None
    at: Expr | None = None
    cancel_on: list[str] = field(default_factory=list)


@dataclass
class PolicyScenario:
    name: str
    given: list[tuple[str, dict[str, Any]]]
    when: tuple[str, dict[str, Any]] | None
    elapse: dict[str, int] | None
    then: list[tuple[str, dict[str, Any]]]
    parked: bool = False


@dataclass
class Policy:
    """A process manager: the effects of each event it reacts to, in order."""

    name: str
    reactions: dict[str, list[PolicyEffect]]
    description: str = ""
    scenarios: list[PolicyScenario] = field(default_factory=list)

    @property
    def event_types(self) -> list[str]:
        """The events it reads: those it reacts to, then those that only cancel deadlines."""
        cancelling = [e for effects in self.reactions.values() for x in effects for e in x.cancel_on]
        return list(dict.fromkeys([*self.reactions, *cancelling]))


@dataclass
class Condition:
    """A condition of an integration mapping (`event.total > 0`): the message is published, or
    the command sent, only when it holds."""

    left: Expr
    op: str
    right: Expr
    text: str


@dataclass
class PublicVersion:
    """A version of a public event: its fields as released."""

    version: int
    fields: list[Field]
    description: str = ""


@dataclass
class IntegrationEvent:
    """A public event of this domain, mapped from one internal event (its current version)."""

    name: str
    event: str  # the internal event
    version: int
    fields: list[Field]
    #: Public field -> where its value comes from (`event.<field>` or a literal).
    mapping: list[tuple[str, Expr]] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    #: Older public versions, oldest first (declared so that the contract keeps them).
    versions: list[PublicVersion] = field(default_factory=list)
    description: str = ""
    #: Declared by `publish: true` on the internal event (same name, fields and version 1).
    shorthand: bool = False

    def all_versions(self) -> list[PublicVersion]:
        """Every declared version, oldest first, the current one last."""
        return [*self.versions, PublicVersion(self.version, self.fields, self.description)]


@dataclass
class ConsumedEvent:
    """A public event of another domain, as its contract declares it, and the command it becomes."""

    name: str
    version: int
    fields: list[Field]
    command: str
    #: Command field -> where its value comes from (`event.<field>`, `envelope.<field>`, a literal).
    mapping: list[tuple[str, Expr]] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    description: str = ""


@dataclass
class Consumption:
    """What this domain takes from one publishing domain, read from its vendored contract."""

    domain: str  # the publishing domain
    contract: str  # the contract's path as written in the domain file
    events: list[ConsumedEvent] = field(default_factory=list)
    #: The publisher's public types the consumed versions use, named as this domain's classes
    #: (`<Publisher><Type>`).
    types: list[NamedType] = field(default_factory=list)


@dataclass
class Domain:
    name: str
    source: str  # the domain file, as given on the command line
    description: str = ""
    #: How older event versions must stay readable: backward_transitive, backward or none.
    compatibility: str = "backward_transitive"
    types: list[NamedType] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    integration_events: list[IntegrationEvent] = field(default_factory=list)
    #: Enums and objects of the public shapes (`public_types:`), apart from `types:`.
    public_types: list[NamedType] = field(default_factory=list)
    consumes: list[Consumption] = field(default_factory=list)

    def type(self, name: str) -> NamedType | None:
        return next((t for t in self.types if t.name == name), None)

    def aggregate(self, name: str) -> Aggregate | None:
        return next((a for a in self.aggregates if a.name == name), None)

    def event(self, name: str) -> Event | None:
        return next((e for e in self.events if e.name == name), None)

    def command(self, name: str) -> Command | None:
        return next((c for c in self.commands if c.name == name), None)
