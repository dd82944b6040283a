"""Commands: their rules and the events they emit."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, Tag

from acci_gen.spec.language.base import Given, Snake, Spec, form, kind_of
from acci_gen.spec.language.events import ValueOf
from acci_gen.spec.language.fields import Fields


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
    return {"text": "ref", "mapping": "value"}.get(kind_of(value) or "")


#: A value mapped to a field or column: a reference (`command.email`) or `{value: ...}`.
ValueDef = Annotated[
    Union[Annotated[str, Tag("ref")], Annotated[ValueOf, Tag("value")]],  # noqa: UP007
    form(_value_form, "value_form"),
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
    return {"text": "name", "mapping": "spec"}.get(kind_of(value) or "")


EmitDef = Annotated[
    Union[Annotated[str, Tag("name")], Annotated[EmitSpec, Tag("spec")]],  # noqa: UP007
    form(_emit_form, "emit_form"),
]


def _emits_form(value: Any) -> str | None:
    return {"text": "one", "list": "many"}.get(kind_of(value) or "")


EmitsDef = Annotated[
    Union[  # noqa: UP007
        Annotated[str, Tag("one")], Annotated[list[EmitDef], Field(min_length=1), Tag("many")]
    ],
    form(_emits_form, "emits_form"),
]


class HttpRoute(Spec):
    """How the command is sent over HTTP, instead of the convention (docs/http-api.md)."""

    what: ClassVar[str] = "an HTTP route"

    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    """The HTTP method: POST, PUT, PATCH or DELETE."""
    path: str
    """The path below the domain's prefix, e.g. /accounts/{account_id}/withdrawals; each {name} is
    a field of the command (sent in the path, not in the body)."""


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
    http: Given[HttpRoute] = None
    """The command's HTTP route (method and path), instead of the convention."""
