"""The integration-event model that acci-gen emits: public event types with their own names and
schema versions, what a domain publishes (internal event -> public event, or nothing), and what a
consuming domain does with another domain's events (public event -> one of its own commands).

Public events are a contract with other teams: internal events can change (with upcasters) while
the public shape stays, and a new public version is a new class with a higher `schema_version`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from acci.commands import CommandData, CommandHandler
from acci.errors import ConfigurationError
from acci.events import DomainEvent
from acci.integration.envelope import Envelope
from acci.integration.naming import check_domain, check_public_type
from acci.store.base import EventStore


class IntegrationEvent(BaseModel):
    """Base of public event payloads. Unknown fields are ignored when reading, so that a consumer
    keeps working when the publisher adds an optional field within a schema version's
    compatibility rules."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self)


I = TypeVar("I", bound=DomainEvent)  # noqa: E741 - the internal event
P = TypeVar("P", bound=IntegrationEvent)
C = TypeVar("C", bound=CommandData)


@dataclass(frozen=True)
class Publication(Generic[I, P]):
    """An internal event type published as a public one: `transform` maps the (upcast, decoded)
    internal event to its public payload, or to None when this one is not published."""

    internal: type[I]
    public: type[P]
    transform: Callable[[I], P | None]

    def __post_init__(self) -> None:
        check_public_type(self.public.event_type)


@dataclass(frozen=True)
class Publisher:
    """What a domain publishes: its name (the first subject token) and its publications."""

    domain: str
    publications: Sequence[Publication[Any, Any]]
    _by_type: dict[str, Publication[Any, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_domain(self.domain)
        by_type: dict[str, Publication[Any, Any]] = {}
        for publication in self.publications:
            internal = publication.internal.event_type
            if internal in by_type:
                raise ConfigurationError(
                    f"domain {self.domain!r} publishes its event {internal} twice; map it to one public "
                    "event (a transform may choose among shapes)."
                )
            by_type[internal] = publication
        object.__setattr__(self, "_by_type", by_type)

    @property
    def event_types(self) -> list[str]:
        """The internal event types the relay reads."""
        return list(self._by_type)

    def publication(self, internal_type: str) -> Publication[Any, Any]:
        return self._by_type[internal_type]


@dataclass(frozen=True)
class Reaction(Generic[P, C]):
    """A consuming domain's answer to one public event type and version: `command` maps the event
    (and its envelope: tenant, ids, origin) to one of its own commands, or to None to ignore it;
    `handler` (a CommandHandler class) handles that command in the consumer's own store."""

    event: type[P]
    command: Callable[[P, Envelope], C | None]
    handler: Callable[[EventStore], CommandHandler[C, Any]]

    @property
    def key(self) -> tuple[str, int]:
        return (self.event.event_type, self.event.schema_version)


@dataclass(frozen=True)
class Consumes:
    """What a consuming domain takes from one publishing domain (its vendored contract)."""

    domain: str
    reactions: Sequence[Reaction[Any, Any]]

    def __post_init__(self) -> None:
        check_domain(self.domain)
        keys = [reaction.key for reaction in self.reactions]
        doubled = sorted({f"{t} v{v}" for t, v in keys if keys.count((t, v)) > 1})
        if doubled:
            raise ConfigurationError(
                f"the reactions to domain {self.domain!r} name {', '.join(doubled)} more than once; "
                "keep one reaction per public event type and version."
            )
