"""What a projection handler may write into a column besides a reference or a literal: arithmetic
on the current value (`add`, `subtract`, for balances and counters), the first value present
(`coalesce`), the larger or smaller of the current and a new value (`greatest`, `least`), and
the read-model scenarios that show a projection's rows after some events."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import Field, Tag

from acci_gen.spec.language.base import Spec, form, one_key
from acci_gen.spec.language.events import ValueOf

#: The operations a column value may be, by key.
COLUMN_OPS = ("value", "add", "subtract", "coalesce", "greatest", "least")

#: A number written as a number or a decimal string, or a reference.
Operand = Annotated[Any, Field(json_schema_extra={"anyOf": [{"type": "string"}, {"type": "number"}]})]


class AddTo(Spec):
    """Add to the column's current value (a new row starts from 0)."""

    what: ClassVar[str] = "'add'"

    add: Operand
    """A reference (event.amount) or a number (1 counts events)."""


class SubtractFrom(Spec):
    """Subtract from the column's current value (a new row starts from 0)."""

    what: ClassVar[str] = "'subtract'"

    subtract: Operand
    """A reference (event.amount) or a number."""


class Coalesce(Spec):
    """The first of the values that is not null (an update keeps the current value when none is)."""

    what: ClassVar[str] = "'coalesce'"

    coalesce: Annotated[list[Union[str, ValueOf]], Field(min_length=1)]  # noqa: UP007
    """References and {value: ...} literals, in order."""


class Greatest(Spec):
    """The larger of the column's current value and this one."""

    what: ClassVar[str] = "'greatest'"

    greatest: str
    """A reference, e.g. envelope.timestamp."""


class Least(Spec):
    """The smaller of the column's current value and this one."""

    what: ClassVar[str] = "'least'"

    least: str
    """A reference, e.g. event.price."""


def _column_value_form(value: Any) -> str | None:
    return "ref" if isinstance(value, str) else one_key(value, COLUMN_OPS)


#: A column's value: a reference, {value}, {add}, {subtract}, {coalesce}, {greatest} or {least}.
ColumnValue = Annotated[
    Union[  # noqa: UP007
        Annotated[str, Tag("ref")],
        Annotated[ValueOf, Tag("value")],
        Annotated[AddTo, Tag("add")],
        Annotated[SubtractFrom, Tag("subtract")],
        Annotated[Coalesce, Tag("coalesce")],
        Annotated[Greatest, Tag("greatest")],
        Annotated[Least, Tag("least")],
    ],
    form(_column_value_form, "column_value_form"),
]

#: {Name: {field: value, ...}}: one event with its data.
EventInstance = Annotated[dict[str, dict[str, Any] | None], Field(min_length=1, max_length=1)]


class ReadModelScenario(Spec):
    """Given events (each appended to its aggregate's stream), then these rows: a generated test."""

    what: ClassVar[str] = "a read-model scenario"

    name: str
    """snake_case, unique within the projection."""
    given: Annotated[list[EventInstance], Field(min_length=1)]
    """The events, in order."""
    rows: list[dict[str, Any]]
    """The rows of the tenant afterwards, each with the columns it names (in key order)."""
