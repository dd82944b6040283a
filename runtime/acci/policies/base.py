"""Policies (process managers): what a policy is, and the effects its reactions have.

A policy reacts to events with commands: "when OrderPlaced, send ReserveStock with these fields",
under a condition, and says what to do when the command is rejected (send a compensation, let it
be, or dead-letter the event). It can also schedule a command for later (a deadline) and cancel
a deadline when a later event makes it moot. `react` is pure: everything it returns is derived
from the event, so that a redelivered event has the same effects, and the ids derived from the
policy's name and the event's id make each effect happen once.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal

from acci.commands import CommandData, Handlers
from acci.errors import ConfigurationError, shown
from acci.events import DomainEvent, RecordedEvent
from acci.registry import EventRegistry

#: What to do when a command a policy sent is rejected: send this compensation instead (its id
#: derived from the rejected command's), "ignore" (count it and go on), or "dead_letter" (park the
#: event, or fail the deadline, until an operator replays it).
OnRejected = CommandData | Literal["dead_letter", "ignore"]

# The namespace of every id a policy derives (uuid5); the names below tell the kinds apart.
_NAMESPACE = uuid.UUID("6f1d3c52-6a0e-4f55-9d2b-6c2d7e0d8a11")


@dataclass(frozen=True, slots=True)
class Send:
    """Send `command` now, in the event's tenant and correlation."""

    command: CommandData
    on_rejected: OnRejected = "dead_letter"


@dataclass(frozen=True, slots=True)
class Schedule:
    """Send `command` later: at `at`, or `after` the event's timestamp (exactly one of them),
    unless a Cancel of the same `deadline` name and `key` comes first. The key is what the
    cancelling event names: an aggregate id, or a field such as an order id."""

    deadline: str
    command: CommandData
    key: str
    at: datetime | None = None
    after: timedelta | None = None
    on_rejected: OnRejected = "dead_letter"

    def __post_init__(self) -> None:
        if not self.deadline or not self.key:
            raise ConfigurationError(
                f"Schedule of {type(self.command).command_type} needs a deadline name and a key; got "
                f"deadline={shown(self.deadline)}, key={shown(self.key)}."
            )
        if (self.at is None) == (self.after is None):
            raise ConfigurationError(
                f"Schedule {shown(self.deadline)} needs exactly one of at= (a time) and after= (a delay "
                "from the event's timestamp)."
            )

    def due(self, event: RecordedEvent) -> datetime:
        """When the deadline is due; a time without a zone is taken as UTC."""
        if self.at is not None:
            return self.at if self.at.tzinfo is not None else self.at.replace(tzinfo=UTC)
        return event.timestamp + (self.after or timedelta())


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the pending deadlines of this policy named `deadline` with `key`, in the event's
    tenant. A deadline already due and being sent is not cancelled any more."""

    deadline: str
    key: str


Effect = Send | Schedule | Cancel


class Policy(ABC):
    """A process manager: reacts to the events of `event_types` with commands.

    Subclasses set `name` (its checkpoint and dead letters: lower-case letters, digits and '_'),
    `event_types` (also those that only cancel deadlines), `registry` (to decode them) and
    `handlers` (the handler class of each command it sends), and implement `react`. A
    PolicyRunner runs it like a projection: checkpointed, one active instance, dead letters.
    """

    name: ClassVar[str]
    event_types: ClassVar[Sequence[str]]
    registry: ClassVar[EventRegistry]
    handlers: ClassVar[Handlers]

    @abstractmethod
    def react(self, event: DomainEvent, envelope: RecordedEvent) -> Sequence[Effect]:
        """The effects of one event (none when its condition does not hold). Pure: derive
        everything from the event and its envelope, never from the clock or the database."""

    def command_classes(self) -> Mapping[str, type[CommandData]]:
        """The command classes it may send, by command type (to read stored deadlines back)."""
        return {command_class.command_type: command_class for command_class in self.handlers}


def command_id(policy: str, event_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the command the `index`-th effect of a policy's reaction to an event sends: the
    same on every delivery of the event, so the command log makes a repeat a replay."""
    return uuid.uuid5(_NAMESPACE, f"command:{policy}:{event_id}:{index}")


def deadline_id(policy: str, event_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the deadline the `index`-th effect of a policy's reaction to an event schedules."""
    return uuid.uuid5(_NAMESPACE, f"deadline:{policy}:{event_id}:{index}")


def deadline_command_id(deadline: uuid.UUID) -> uuid.UUID:
    """The id of the command a deadline sends when due: one command per deadline, however often
    a runner that died mid-way sends it again."""
    return uuid.uuid5(_NAMESPACE, f"deadline-command:{deadline}")


def compensation_id(command: uuid.UUID) -> uuid.UUID:
    """The id of the compensation sent when the command with id `command` is rejected."""
    return uuid.uuid5(_NAMESPACE, f"compensation:{command}")


def dumped(command: CommandData) -> tuple[str, str]:
    """A command's type and data as JSON, as a deadline stores it."""
    return type(command).command_type, command.model_dump_json()


def loaded(classes: Mapping[str, type[CommandData]], command_type: str, data_json: str) -> CommandData:
    """A command a deadline stored, read back with its class; ConfigurationError if the policy
    no longer sends that command type."""
    command_class = classes.get(command_type)
    if command_class is None:
        raise ConfigurationError(
            f"a deadline holds a {shown(command_type)} command, which its policy does not send any more "
            f"(it sends {', '.join(sorted(classes)) or 'nothing'}); add its handler back, or cancel the "
            "deadline."
        )
    return command_class.model_validate_json(data_json)
