"""Policies (process managers): when an event happens, send a command now (`send:`) or later
(`schedule:`, a deadline, cancelled by later events), with the command's fields mapped from the
event; and the policy scenarios that show what a policy sends."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, Tag

from acci_gen.spec.language.base import Given, Spec, form, kind_of
from acci_gen.spec.language.commands import ValueDef

#: A delay: a whole number of days, hours, minutes and seconds, e.g. 15m, 1h30m, 2d.
DURATION = r"^\s*(\d+\s*[dhms]\s*)+$"


class Compensation(Spec):
    """The command sent instead when the policy's command is rejected."""

    what: ClassVar[str] = "the compensation"

    send: str
    """The command's name."""
    map: dict[str, ValueDef] | None = None
    """Command field: event.x, envelope.x, an expression or {value: x}. Absent: same-named event
    fields."""


def _on_rejected_form(value: Any) -> str | None:
    return {"text": "word", "mapping": "command"}.get(kind_of(value) or "")


#: What to do when the command is rejected: dead_letter (park the event), ignore, or a
#: compensating command.
OnRejected = Annotated[
    Union[  # noqa: UP007
        Annotated[Literal["dead_letter", "ignore"], Tag("word")],
        Annotated[Compensation, Tag("command")],
    ],
    form(_on_rejected_form, "on_rejected_form"),
]


class SendEffect(Spec):
    """Send a command when the event happens."""

    what: ClassVar[str] = "a 'send'"

    send: str
    """The command's name."""
    map: dict[str, ValueDef] | None = None
    """Command field: event.x, envelope.x, an expression or {value: x}. Absent: same-named event
    fields."""
    when: Given[str] = None
    """A condition on the event (event.quantity > 0): else nothing is sent."""
    on_rejected: OnRejected = "dead_letter"
    """dead_letter (default: the event is parked until an operator replays it), ignore, or
    {send: <Command>, map: {...}}, a compensation."""


class ScheduleEffect(Spec):
    """Send a command later (a deadline), unless an event of `cancel_on` comes first."""

    what: ClassVar[str] = "a 'schedule'"

    schedule: str
    """The command's name."""
    after: Given[Annotated[str, Field(pattern=DURATION)]] = None
    """How long after the event: 30s, 15m, 2h, 1d, 1h30m."""
    at: Given[str] = None
    """Or when: a datetime field of the event (event.expires_at)."""
    key: str
    """What the cancelling events name: a reference such as event.reservation_id. Each event of
    `cancel_on` must have a field of the same name."""
    cancel_on: list[str] | None = None
    """Events that cancel the deadline (with the same key), e.g. [ReservationConfirmed]."""
    deadline: Given[str] = None
    """The deadline's name (default: the command's, in snake_case)."""
    map: dict[str, ValueDef] | None = None
    """Command field: event.x, envelope.x, an expression or {value: x}. Absent: same-named event
    fields."""
    when: Given[str] = None
    """A condition on the event: else nothing is scheduled."""
    on_rejected: OnRejected = "dead_letter"
    """dead_letter (the deadline fails until an operator retries it), ignore, or a compensation."""


def _effect_form(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    kinds = [k for k in ("send", "schedule") if k in value]
    return kinds[0] if len(kinds) == 1 else None


Effect = Annotated[
    Union[Annotated[SendEffect, Tag("send")], Annotated[ScheduleEffect, Tag("schedule")]],  # noqa: UP007
    form(_effect_form, "effect_form"),
]

#: {Name: {field: value, ...}}: one event or command with its data.
Instance = Annotated[dict[str, dict[str, Any] | None], Field(min_length=1, max_length=1)]


class PolicyScenario(Spec):
    """Given events, when one more happens (or the clock moves on), then these commands are sent."""

    what: ClassVar[str] = "a policy scenario"

    name: str
    """snake_case, unique within the policy."""
    given: list[Instance] | None = None
    """Events that happened before (the policy reacts to them too)."""
    when: Given[Instance] = None
    """The event the policy reacts to; or `elapse`."""
    elapse: Given[Annotated[str, Field(pattern=DURATION)]] = None
    """How far the clock moves after the given events: the deadlines then due are sent."""
    then: list[Instance] | None = None
    """The commands sent, in order, with all their data (rejected ones and compensations too)."""
    parked: bool = False
    """The event is dead-lettered (a rejected command the policy does not compensate)."""


class Policy(Spec):
    """A process manager: reacts to events with commands, now or later."""

    what: ClassVar[str] = "policy '{name}'"

    description: str | None = None
    """What the policy does."""
    on: dict[str, list[Effect]]
    """Event: what the policy does when it happens, in order."""
    scenarios: list[PolicyScenario] | None = None
    """Examples of what it sends; each becomes a generated test on PostgreSQL."""
