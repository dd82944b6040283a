"""Commands on several aggregates at once: the roles a command names (`source: Account(from_id)`),
and which role's stream each emitted event goes to."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Tag

from acci_gen.spec.language.base import Given, Spec, form, kind_of

#: `Aggregate(identity_field)`, e.g. Account(from_account_id).
ROLE_TEXT = r"^\s*([A-Z][A-Za-z0-9]*)\s*\(\s*([a-z][a-z0-9_]*)\s*\)\s*$"


class RoleSpec(Spec):
    """An aggregate the command names, with the command field that identifies it."""

    what: ClassVar[str] = "the role '{name}'"

    aggregate: str
    """The aggregate's name."""
    identity: str
    """The command field whose value is the aggregate's id."""
    precondition: Literal["none", "must_exist", "must_not_exist"] | None = None
    """What must hold of this aggregate (default: the command's precondition)."""


def _role_form(value: Any) -> str | None:
    return {"text": "text", "mapping": "spec"}.get(kind_of(value) or "")


#: A role: `Aggregate(identity_field)` or {aggregate, identity, precondition}.
RoleDef = Annotated[
    Union[Annotated[str, Tag("text")], Annotated[RoleSpec, Tag("spec")]],  # noqa: UP007
    form(_role_form, "role_form"),
]

#: The role an emitted event goes to (the role's aggregate must be the event's).
ToRole = Given[str]
