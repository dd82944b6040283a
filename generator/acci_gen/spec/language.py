"""The domain language, defined once: one pydantic model per construct of a domain file.

The models check a file's shape (which keys exist, which kinds of values they take; strict, so
that `"5"` is not a number and `yes` is not text; no unknown keys). Their docstrings are the
descriptions of the JSON Schema shipped for editors (`acci_gen.spec.schema`), and the errors they
raise are reworded for people by one table (`acci_gen.spec.shape`). What a shape cannot say
(references between items, types that must fit, names) is checked afterwards by
`acci_gen.spec.checks`, which builds the model the renderers read (`acci_gen.model`).

Where a key takes one of several forms (a field is a type name or a mapping; an emitted event is
a name or `{event, map}`), a callable discriminator picks the form from the value itself, so that a
wrong value gets one error for the form it was written in instead of one per alternative. A key
with no natural default and no value (`table:` alone) is an error, as before: `Given[...]` below.

To add a key: add it to its model with a docstring, check its meaning in `checks/`, document it in
docs/domain-language.md. To add a section: a model here, a field of `Domain`, a module in `checks/`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from acci_gen.model import SCALARS

PASCAL = r"^[A-Z][A-Za-z0-9]*$"
SNAKE = r"^[a-z][a-z0-9_]*$"

#: The upcast step kinds, in the order the docs list them.
STEP_KINDS = ("add", "rename", "remove", "map", "split", "combine")
#: How a projection handler changes its table.
HANDLER_ACTIONS = ("insert", "upsert", "update", "delete", "custom")
#: How an event changes a state field, besides a plain reference.
APPLY_OPS = ("value", "add", "subtract", "append")
#: Errors every command can fail with, besides the codes of its rules.
BUILTIN_ERRORS = ("already_exists", "not_found", "invalid")

# Names are validated by acci_gen.names (with reserved words and a suggested spelling); the
# JSON Schema carries their patterns so that editors flag them too.
Pascal = Annotated[str, WithJsonSchema({"type": "string", "pattern": PASCAL})]
Snake = Annotated[str, WithJsonSchema({"type": "string", "pattern": SNAKE})]
#: A field type: checked against the scalars and `types:` by acci_gen.spec.checks.fields.
TypeName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {"enum": list(SCALARS)},
                {"pattern": r"^\s*(list\[\s*[A-Za-z][A-Za-z0-9_]*\s*\]|[A-Z][A-Za-z0-9]*)\s*$"},
            ],
        }
    ),
]

T = TypeVar("T")


def _present(value: T | None) -> T:
    if value is None:
        raise PydanticCustomError("null_value", "a value is needed")
    return value


def _not_null_in_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
    if len(schema["anyOf"]) == 1:
        schema.update(schema.pop("anyOf")[0])
    schema.pop("default", None)


#: An optional key without a natural default: absent means None, but `key:` with no value is an
#: error (it is one today, and a key written without its value is usually a slip).
Given = Annotated[
    Union[T, None],  # noqa: UP007
    AfterValidator(_present),
    Field(json_schema_extra=_not_null_in_schema),
]


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PydanticCustomError("number_type", "a number is needed")
    return value


#: An int or a float as written (a bound of an int or decimal field): never a bool, nor .inf/.nan.
Number = Annotated[Any, AfterValidator(_number), WithJsonSchema({"type": "number"})]


def _form(choose: Any, error: str) -> Discriminator:
    """A discriminator that picks a union member from the value; `error` when none fits."""
    return Discriminator(choose, custom_error_type=error, custom_error_message=error)


def _kind_of(value: Any) -> str | None:
    """'text' or 'mapping' or 'list' for the forms a key takes; None for anything else."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return None


class Spec(BaseModel):
    """A construct of the language: strict, closed (no keys it does not define)."""

    model_config = ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True, frozen=True)

    #: How error messages name an instance; `{name}` is its key in the document.
    what: ClassVar[str] = "this mapping"

    def written(self, key: str) -> bool:
        """Whether the document wrote `key` (for keys whose absence differs from null)."""
        return key in self.model_fields_set


# -- fields --------------------------------------------------------------------------------------


class FieldSpec(Spec):
    """A field with its type and constraints."""

    what: ClassVar[str] = "field '{name}'"

    type: TypeName
    """A scalar (string, int, decimal, bool, uuid, date, datetime, email), a name from `types:`,
    or list[<type>]."""
    description: str | None = None
    """What the field means."""
    optional: bool = False
    """The field may be absent or null (its Python type is `T | None`)."""
    default: Any = None
    """The value when the field is absent (scalars except uuid/date/datetime, enum values, [] for
    lists)."""
    min: Given[Number] = None
    """Smallest allowed value (int, decimal)."""
    max: Given[Number] = None
    """Largest allowed value (int, decimal)."""
    min_length: Given[Annotated[int, Field(ge=0)]] = None
    """Shortest allowed text (string, email)."""
    max_length: Given[Annotated[int, Field(ge=0)]] = None
    """Longest allowed text (string, email)."""
    pattern: Given[str] = None
    """A regular expression a string must match (searched; anchor it with ^...$). Needs `example`."""
    min_items: Given[Annotated[int, Field(ge=0)]] = None
    """Fewest list items."""
    max_items: Given[Annotated[int, Field(ge=0)]] = None
    """Most list items."""
    example: Any = None
    """A valid value, used by the generated tests instead of a made-up sample."""


def _field_form(value: Any) -> str | None:
    return {"text": "name", "mapping": "spec"}.get(_kind_of(value) or "")


#: A field: a type name (`user_id: uuid`) or a mapping with `type:` and constraints.
FieldDef = Annotated[
    Union[Annotated[TypeName, Tag("name")], Annotated[FieldSpec, Tag("spec")]],  # noqa: UP007
    _form(_field_form, "field_form"),
]
#: Fields by name (snake_case), in the order written.
Fields = dict[Snake, FieldDef] | None


# -- types ---------------------------------------------------------------------------------------


class EnumType(Spec):
    """An enum: a closed set of snake_case values."""

    what: ClassVar[str] = "type '{name}'"

    description: str | None = None
    """What the type means."""
    enum: Annotated[list[str], Field(min_length=1)]
    """The values, e.g. [active, disabled]."""


class ObjectType(Spec):
    """A nested object: a named set of fields, usable as a field type anywhere in the file."""

    what: ClassVar[str] = "type '{name}'"

    description: str | None = None
    """What the type means."""
    fields: Fields
    """Its fields."""


def _named_type_form(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "enum"  # reported as "must be a mapping"
    if ("enum" in value) == ("fields" in value):
        return None
    return "enum" if "enum" in value else "object"


NamedType = Annotated[
    Union[Annotated[EnumType, Tag("enum")], Annotated[ObjectType, Tag("object")]],  # noqa: UP007
    _form(_named_type_form, "type_form"),
]


# -- aggregates and events -----------------------------------------------------------------------


class Aggregate(Spec):
    """A consistency boundary: the state its events build, and the field that names an instance."""

    what: ClassVar[str] = "aggregate '{name}'"

    description: str | None = None
    """What the aggregate is."""
    identity: str
    """The state field that identifies an instance (a required string, uuid, int or email);
    every command for the aggregate carries it."""
    state: Fields
    """The fields of the state, rebuilt by applying the events in order."""
    snapshot_every: Annotated[int, Field(ge=1)] | None = None
    """Save a snapshot each time the version passes a multiple of this. Absent: never."""


class ValueOf(Spec):
    """A literal value instead of a reference."""

    what: ClassVar[str] = "a literal value"

    value: Any
    """The value, of the target's type."""


class AddOf(Spec):
    """Add a number to the state field."""

    what: ClassVar[str] = "'add'"

    add: str
    """The event field to add, e.g. event.amount."""


class SubtractOf(Spec):
    """Subtract a number from the state field."""

    what: ClassVar[str] = "'subtract'"

    subtract: str
    """The event field to subtract, e.g. event.amount."""


class AppendOf(Spec):
    """Append an item (or all items of a list) to the list state field."""

    what: ClassVar[str] = "'append'"

    append: str
    """The event field to append, e.g. event.line."""


def _apply_form(value: Any) -> str | None:
    if isinstance(value, str):
        return "ref"
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in APPLY_OPS:
        return str(next(iter(value)))
    return None


#: How an event changes one state field: `event.<field>`, {value}, {add}, {subtract} or {append}.
ApplyDef = Annotated[
    Union[  # noqa: UP007
        Annotated[str, Tag("ref")],
        Annotated[ValueOf, Tag("value")],
        Annotated[AddOf, Tag("add")],
        Annotated[SubtractOf, Tag("subtract")],
        Annotated[AppendOf, Tag("append")],
    ],
    _form(_apply_form, "apply_form"),
]


class AddStep(Spec):
    """New fields with their values."""

    what: ClassVar[str] = "an 'add' step"

    add: Annotated[dict[str, Any], Field(min_length=1)]
    """{field: value, ...}"""


class RenameStep(Spec):
    """Fields renamed, in order."""

    what: ClassVar[str] = "a 'rename' step"

    rename: dict[str, str]
    """{old_name: new_name, ...}"""


class RemoveStep(Spec):
    """Fields dropped."""

    what: ClassVar[str] = "a 'remove' step"

    remove: list[str]
    """[field, ...]"""


class MapStep(Spec):
    """Values mapped, e.g. an enum value renamed."""

    what: ClassVar[str] = "a 'map' step"

    map: dict[str, dict[str, Any]]
    """{field: {old value: new value}}"""


class SplitArgs(Spec):
    """A text field split: the first parts into the first names, the rest into the last."""

    what: ClassVar[str] = "a 'split' step"

    field: str
    """The field to split."""
    into: list[str]
    """The new fields."""
    separator: str = " "
    """What separates the parts."""


class SplitStep(Spec):
    """A text field split into several."""

    what: ClassVar[str] = "a 'split' step"

    split: SplitArgs
    """{field: name, into: [first, last], separator: " "}"""


class CombineArgs(Spec):
    """Text fields joined into one (empty and absent values are skipped)."""

    what: ClassVar[str] = "a 'combine' step"

    fields: list[str]
    """The fields to join, in order."""
    into: str
    """The new field."""
    separator: str = " "
    """What goes between the values."""


class CombineStep(Spec):
    """Text fields joined into one."""

    what: ClassVar[str] = "a 'combine' step"

    combine: CombineArgs
    """{fields: [first, last], into: name, separator: " "}"""


def _step_form(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in STEP_KINDS:
        return str(next(iter(value)))
    return None


#: One upcast step from a version to the next.
UpcastStep = Annotated[
    Union[  # noqa: UP007
        Annotated[AddStep, Tag("add")],
        Annotated[RenameStep, Tag("rename")],
        Annotated[RemoveStep, Tag("remove")],
        Annotated[MapStep, Tag("map")],
        Annotated[SplitStep, Tag("split")],
        Annotated[CombineStep, Tag("combine")],
    ],
    _form(_step_form, "step_form"),
]


class OldVersion(Spec):
    """An older schema version of an event: the fields it was released with, and how a payload of
    it becomes the next version."""

    what: ClassVar[str] = "version {name}"

    description: str | None = None
    """What changed in the next version."""
    fields: Fields
    """The fields this version was released with."""
    upcast: list[UpcastStep] | None = None
    """The steps from this version to the next, in order."""
    custom: bool = False
    """After the steps, a hand-written upcaster in custom/upcasters.py (stubbed once)."""
    example: dict[str, Any] | None = None
    """A sample payload of this version for the generated test (default: built from the fields)."""
    expected: dict[str, Any] | None = None
    """What `example` reads as in the current version (needed where a hand-written upcaster runs)."""


class Event(Spec):
    """Something that happened to an aggregate; named in the past tense."""

    what: ClassVar[str] = "event '{name}'"

    description: str | None = None
    """What happened."""
    aggregate: str
    """The aggregate whose stream the event belongs to."""
    version: Annotated[int, Field(ge=1)] = 1
    """The schema version (stored with every event)."""
    fields: Fields = None
    """The payload."""
    apply: dict[Snake, ApplyDef] | None = None
    """State field: how the event changes it. Absent: event fields are copied to state fields of
    the same name."""
    versions: dict[str, OldVersion] | None = None
    """Older schema versions by number (1, 2, ...): their fields and the upcast steps to the next."""


# -- commands ------------------------------------------------------------------------------------


class Rule(Spec):
    """A condition on the command and the state that must hold, else the command is rejected."""

    what: ClassVar[str] = "a rule"

    condition: str
    """<reference> <op> <reference or value>, e.g. state.balance >= command.amount
    (ops: == != < <= > >=)."""
    code: str
    """The rejection code (snake_case), e.g. insufficient_funds."""
    message: str | None = None
    """The rule in words, shown to the sender."""


def _value_form(value: Any) -> str | None:
    return {"text": "ref", "mapping": "value"}.get(_kind_of(value) or "")


#: A value mapped to a field or column: a reference (`command.email`) or `{value: ...}`.
ValueDef = Annotated[
    Union[Annotated[str, Tag("ref")], Annotated[ValueOf, Tag("value")]],  # noqa: UP007
    _form(_value_form, "value_form"),
]


class EmitSpec(Spec):
    """An emitted event with the sources of its fields."""

    what: ClassVar[str] = "an emitted event"

    event: str
    """The event's name."""
    map: dict[Snake, ValueDef] | None = None
    """Event field: where its value comes from (command.x, state.x, metadata.x or {value: x}).
    Absent: same-named command fields, then state fields."""


def _emit_form(value: Any) -> str | None:
    return {"text": "name", "mapping": "spec"}.get(_kind_of(value) or "")


EmitDef = Annotated[
    Union[Annotated[str, Tag("name")], Annotated[EmitSpec, Tag("spec")]],  # noqa: UP007
    _form(_emit_form, "emit_form"),
]


def _emits_form(value: Any) -> str | None:
    return {"text": "one", "list": "many"}.get(_kind_of(value) or "")


EmitsDef = Annotated[
    Union[  # noqa: UP007
        Annotated[str, Tag("one")], Annotated[list[EmitDef], Field(min_length=1), Tag("many")]
    ],
    _form(_emits_form, "emits_form"),
]


class Command(Spec):
    """What a sender wants an aggregate to do; named in the imperative."""

    what: ClassVar[str] = "command '{name}'"

    description: str | None = None
    """What the sender wants."""
    aggregate: str
    """The aggregate the command is for."""
    fields: Fields = None
    """The command's data; it must carry the aggregate's identity."""
    precondition: Literal["none", "must_exist", "must_not_exist"] = "none"
    """What must hold of the aggregate: none, must_exist or must_not_exist."""
    requires: list[Rule] | None = None
    """Rules that must hold, else the command is rejected with the rule's code."""
    emits: EmitsDef
    """The events the command produces, in order: a name, or a list of names and {event, map}."""
    decide: Literal["mapped", "custom"] = "mapped"
    """custom: a hand-written decision function (stubbed once) builds the events."""


# -- projections and queries ---------------------------------------------------------------------


class InsertHandler(Spec):
    """Insert a row (an existing key is an error)."""

    what: ClassVar[str] = "the handler of {name}"

    insert: dict[str, ValueDef] | None
    """Column values: event.x, envelope.x or {value: x}; every required column."""
    key: Given[ValueDef] = None
    """How to find the row (not used by insert)."""


class UpsertHandler(Spec):
    """Insert a row, or replace the values of an existing one."""

    what: ClassVar[str] = "the handler of {name}"

    upsert: dict[str, ValueDef] | None
    """Column values: event.x, envelope.x or {value: x}; every required column."""
    key: Given[ValueDef] = None
    """How to find the row (default event.<key column>)."""


class UpdateHandler(Spec):
    """Change columns of an existing row (optional event fields change them only when present)."""

    what: ClassVar[str] = "the handler of {name}"

    update: dict[str, ValueDef] | None
    """Column values: event.x, envelope.x or {value: x}."""
    key: Given[ValueDef] = None
    """How to find the row (default event.<key column>)."""


class DeleteHandler(Spec):
    """Delete the row."""

    what: ClassVar[str] = "the handler of {name}"

    delete: Literal[True]
    """true"""
    key: Given[ValueDef] = None
    """How to find the row (default event.<key column>)."""


class CustomHandler(Spec):
    """A hand-written handler in custom/projections.py (stubbed once)."""

    what: ClassVar[str] = "the hand-written handler of {name} ('custom: true' alone)"

    custom: Literal[True]
    """true"""


def _handler_form(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "insert"  # reported as "must be a mapping"
    actions = [a for a in HANDLER_ACTIONS if a in value]
    return actions[0] if len(actions) == 1 else None


HandlerDef = Annotated[
    Union[  # noqa: UP007
        Annotated[InsertHandler, Tag("insert")],
        Annotated[UpsertHandler, Tag("upsert")],
        Annotated[UpdateHandler, Tag("update")],
        Annotated[DeleteHandler, Tag("delete")],
        Annotated[CustomHandler, Tag("custom")],
    ],
    _form(_handler_form, "handler_form"),
]


class Projection(Spec):
    """A read model: a table, and how each event changes it."""

    what: ClassVar[str] = "projection '{name}'"

    description: str | None = None
    """What the read model shows."""
    table: Given[Snake] = None
    """The table name (default: the projection's name)."""
    key: str
    """The column that identifies a row."""
    columns: Fields
    """The table's columns: scalars or enums."""
    on: dict[Pascal, HandlerDef] | None
    """Event: how it changes the table."""
    inline: bool = False
    """Update the table in the append's own transaction (read-your-writes) instead of by a
    projection runner."""


FilterOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "like", "ilike", "contains"]


class Filter(BaseModel):
    """{column: {op: parameter}} conditions, all of which must hold, or {any: [filters]} (one of
    them must hold)."""

    # The keys of a filter are column names, so it is the one mapping with open keys: each extra
    # key is a column, and its value is typed by `__pydantic_extra__`.
    model_config = ConfigDict(strict=True, extra="allow", use_attribute_docstrings=True, frozen=True)

    what: ClassVar[str] = "a filter"

    any: list[Filter] | None = None
    """Conditions of which one must hold."""
    __pydantic_extra__: dict[str, dict[FilterOp, str]]


def _paging_form(value: Any) -> str | None:
    if isinstance(value, str):
        return "param"
    if isinstance(value, int) and not isinstance(value, bool):
        return "number"
    return None


#: A limit or offset: a whole number, or the name of an int parameter.
PagingDef = Annotated[
    Union[Annotated[Annotated[int, Field(ge=0)], Tag("number")], Annotated[str, Tag("param")]],  # noqa: UP007
    _form(_paging_form, "paging_form"),
]


class Query(Spec):
    """A query of one projection, with typed parameters; every query is scoped to the tenant."""

    what: ClassVar[str] = "query '{name}'"

    description: str | None = None
    """What the query answers."""
    projection: str
    """The projection the query reads."""
    params: Fields = None
    """The query's parameters (Python names; SQL words such as limit are allowed)."""
    filter: list[Filter] | None = None
    """Conditions, all of which must hold."""
    order_by: list[str] | None = None
    """Columns, each optionally followed by asc or desc: [name], [opened_at desc]."""
    limit: Given[PagingDef] = None
    """A whole number, or the name of an int parameter."""
    offset: Given[PagingDef] = None
    """A whole number, or the name of an int parameter."""
    returns: Literal["one", "many"] = "many"
    """one (a row or None) or many (a list)."""
    paginate: Given[Literal["keyset"]] = None
    """keyset: the method takes `after` (the last row of the previous page) instead of an offset;
    fast on large tables."""


# -- scenarios -----------------------------------------------------------------------------------

#: {Name: {field: value, ...}}: one event or command with its data.
Instance = Annotated[dict[str, dict[str, Any] | None], Field(min_length=1, max_length=1)]


class ThenError(Spec):
    """The command fails with this code."""

    what: ClassVar[str] = "'then'"

    error: str
    """already_exists, not_found, invalid, or a rule's code."""


def _then_form(value: Any) -> str | None:
    if isinstance(value, list):
        return "events"
    if isinstance(value, dict) and "error" in value:
        return "error"
    return None


ThenDef = Annotated[
    Union[Annotated[list[Instance], Tag("events")], Annotated[ThenError, Tag("error")]],  # noqa: UP007
    _form(_then_form, "then_form"),
]


class ScenarioMetadata(Spec):
    """The metadata the command is handled with."""

    what: ClassVar[str] = "the scenario's metadata"

    user_id: Given[str] = None
    """Default scenario-user."""
    tenant_id: Given[str] = None
    """Default tenant-1."""
    correlation_id: Given[str] = None
    """Default: none."""
    timestamp: Given[str] = None
    """An ISO 8601 time with its offset; default 2024-01-01T00:00:00+00:00."""


class Scenario(Spec):
    """Given events, when a command, then events or an error: a generated test."""

    what: ClassVar[str] = "a scenario"

    name: str
    """snake_case, unique; the test is test_scenario_<name>."""
    description: str | None = None
    """The test's docstring."""
    given: list[Instance] | None = None
    """Events already in the command's stream."""
    when: Instance
    """One command with its data."""
    metadata: ScenarioMetadata | None = None
    """The metadata the command is handled with."""
    then: ThenDef
    """The events the command produces, in order and with all their data, or {error: <code>}."""


# -- the file ------------------------------------------------------------------------------------


class Domain(Spec):
    """An ACCI domain: one bounded context for acci-gen."""

    what: ClassVar[str] = "a domain file"

    domain: Snake
    """The package name of the generated code (snake_case)."""
    description: str | None = None
    """What the bounded context is about; the package's docstring."""
    compatibility: Literal["backward_transitive", "backward", "none"] = "backward_transitive"
    """Which older event versions must stay readable as the current class: backward_transitive
    (all), backward (the one before the current) or none (hand-written upcasters are trusted)."""
    types: dict[Pascal, NamedType] | None = None
    """Enums and nested objects, usable as field types anywhere in the file."""
    aggregates: dict[Pascal, Aggregate] | None = None
    """Aggregates by name."""
    events: dict[Pascal, Event] | None = None
    """Events by name (past tense)."""
    commands: dict[Pascal, Command] | None = None
    """Commands by name (imperative)."""
    projections: dict[Snake, Projection] | None = None
    """Read models by name."""
    queries: dict[Snake, Query] | None = None
    """Queries by name."""
    scenarios: list[Scenario] | None = None
    """Examples of what each command does; each becomes a generated test."""


#: The sections whose items are named (a broken item is left out of the meaning checks).
SECTIONS = ("types", "aggregates", "events", "commands", "projections", "queries")
