"""Scenarios: given events, when a command, then events or an error."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import Field, Tag

from acci_gen.spec.language.base import Given, Spec, form, kind_of

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
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return "roles"
    return None


#: Events by role, for a command on several aggregates: {role: [{Event: data}, ...]}.
ByRole = dict[str, list[Instance]]

ThenDef = Annotated[
    Union[  # noqa: UP007
        Annotated[list[Instance], Tag("events")],
        Annotated[ThenError, Tag("error")],
        Annotated[ByRole, Tag("roles")],
    ],
    form(_then_form, "then_form"),
]


def _given_form(value: Any) -> str | None:
    return {"list": "events", "mapping": "roles"}.get(kind_of(value) or "")


GivenDef = Annotated[
    Union[Annotated[list[Instance], Tag("events")], Annotated[ByRole, Tag("roles")]],  # noqa: UP007
    form(_given_form, "given_form"),
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
    given: GivenDef | None = None
    """Events already in the command's stream; for a command on several aggregates, by role."""
    when: Instance
    """One command with its data."""
    metadata: ScenarioMetadata | None = None
    """The metadata the command is handled with."""
    then: ThenDef
    """The events the command produces, in order and with all their data (by role for a command
    on several aggregates), or {error: <code>}."""
