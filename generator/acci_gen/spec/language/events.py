"""Aggregates and events: state, how an event changes it, and older event versions with their
upcast steps."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import Field, Tag

from acci_gen.spec.language.base import APPLY_OPS, STEP_KINDS, Snake, Spec, form, one_key
from acci_gen.spec.language.fields import Fields


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


class RemoveOf(Spec):
    """Remove every item equal to the value (or to any item of a list) from the list state field."""

    what: ClassVar[str] = "'remove'"

    remove: str
    """The event field to remove, e.g. event.sku."""


def _apply_form(value: Any) -> str | None:
    return "ref" if isinstance(value, str) else one_key(value, APPLY_OPS)


#: How an event changes one state field: a reference (`event.<field>`, `state.<field>`), an
#: expression (`state.balance + event.amount`), `ignore`, {value}, {add}, {subtract}, {append} or
#: {remove}.
ApplyDef = Annotated[
    Union[  # noqa: UP007
        Annotated[str, Tag("ref")],
        Annotated[ValueOf, Tag("value")],
        Annotated[AddOf, Tag("add")],
        Annotated[SubtractOf, Tag("subtract")],
        Annotated[AppendOf, Tag("append")],
        Annotated[RemoveOf, Tag("remove")],
    ],
    form(_apply_form, "apply_form"),
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
    return one_key(value, STEP_KINDS)


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
    form(_step_form, "step_form"),
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
    """State field: how the event changes it (event.x, state.x, an expression such as
    state.balance + event.amount, ignore, {value}, {add}, {subtract}, {append}, {remove}).
    Absent: event fields are copied to state fields of the same name."""
    versions: dict[str, OldVersion] | None = None
    """Older schema versions by number (1, 2, ...): their fields and the upcast steps to the next."""
    publish: bool = False
    """Publish it to other services as an integration event of the same name, version 1 and
    fields (its public shape is then frozen: see `integration_events` for a shape of its own)."""
