"""The read side: projections (a table, and how each event changes it) and queries."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, Tag

from acci_gen.spec.language.base import HANDLER_ACTIONS, Given, Pascal, Snake, Spec, form
from acci_gen.spec.language.commands import ValueDef
from acci_gen.spec.language.fields import Fields


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
    form(_handler_form, "handler_form"),
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
    segments: Annotated[int, Field(ge=1, le=1024)] | None = None
    """Split the runner's work into this many segments (each owns part of the streams), which
    several processes apply side by side; unset: the service's ACCI_PROJECTIONS__SEGMENTS."""


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
    form(_paging_form, "paging_form"),
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
