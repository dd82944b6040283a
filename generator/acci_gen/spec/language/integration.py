"""Integration events: what a domain publishes to other services (`integration_events:`, and
`publish: true` on an event) and what it takes from other domains (`consumes:`).

A public event has its own name, shape and version, mapped from one internal event, so that the
internal event can change (with upcasters) while the contract other teams read stays. A consumed
event is named by the publisher's contract, its AsyncAPI file vendored beside the domain file.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import Field, Tag

from acci_gen.spec.language.base import Given, Snake, Spec, form, kind_of
from acci_gen.spec.language.commands import ValueDef
from acci_gen.spec.language.fields import Fields


class PublicVersion(Spec):
    """An older version of a public event: the fields it was released with (consumers that have
    not moved to the current version still read it)."""

    what: ClassVar[str] = "public version {name}"

    description: str | None = None
    """What changed in the next version."""
    fields: Fields
    """The fields this version was released with."""


class IntegrationEvent(Spec):
    """A public event: its own shape and version, published whenever its internal event is stored
    (and its conditions hold)."""

    what: ClassVar[str] = "integration event '{name}'"

    description: str | None = None
    """What happened, for the teams that consume it."""
    event: str
    """The internal event it is mapped from (decoded and upcast to its current version)."""
    version: Annotated[int, Field(ge=1)] = 1
    """The public schema version (each message carries it)."""
    fields: Fields = None
    """The public payload. Scalars and lists of scalars (a contract names no internal type)."""
    map: dict[Snake, ValueDef] | None = None
    """Public field: where its value comes from (event.x or {value: x}). Absent: the internal
    event's field of the same name."""
    when: Given[list[str]] = None
    """Conditions on the internal event (`event.total > 0`); the event is published only when
    every one holds."""
    versions: dict[str, PublicVersion] | None = None
    """Older public versions by number, as released: still in the contract."""


class Reaction(Spec):
    """A consumed public event turned into one of this domain's commands."""

    what: ClassVar[str] = "the reaction to '{name}'"

    version: Given[Annotated[int, Field(ge=1)]] = None
    """The public version it reacts to. Absent: the contract's current version (in a list of
    reactions each names its version)."""
    command: str
    """The command of this domain each message becomes (its id is derived from the message id)."""
    map: dict[Snake, ValueDef] | None = None
    """Command field: where its value comes from (event.x, envelope.x or {value: x}). Absent: the
    public event's field of the same name."""
    when: Given[list[str]] = None
    """Conditions on the public event (`event.total > 0`); a message for which one does not hold
    is acknowledged without a command."""


def _reactions_form(value: Any) -> str | None:
    return {"mapping": "one", "list": "many"}.get(kind_of(value) or "")


#: One reaction, or one per version (during a publisher's migration from v1 to v2 a consumer
#: reacts to both; the versions of a list differ).
ReactionsDef = Annotated[
    Union[  # noqa: UP007
        Annotated[Reaction, Tag("one")], Annotated[list[Reaction], Field(min_length=1), Tag("many")]
    ],
    form(_reactions_form, "reactions_form"),
]


class Consumption(Spec):
    """What this domain takes from one publishing domain."""

    what: ClassVar[str] = "consumes '{name}'"

    contract: str
    """The publisher's AsyncAPI file (generated/<domain>/asyncapi.yaml), vendored into this
    service; relative to this domain file."""
    on: Annotated[dict[str, ReactionsDef], Field(min_length=1)]
    """Public event type: the command it becomes, or a list of reactions, one per version."""
