"""The domain language, defined once: one pydantic model per construct of a domain file.

The models check a file's shape (which keys exist, which kinds of values they take; strict, so
that `"5"` is not a number and `yes` is not text; no unknown keys). Their docstrings are the
descriptions of the JSON Schema shipped for editors (`acci_gen.spec.schema`), and the errors they
raise are reworded for people by one table (`acci_gen.spec.wording`). What a shape cannot say
(references between items, types that must fit, names) is checked afterwards by
`acci_gen.spec.checks`, which builds the model the renderers read (`acci_gen.model`).

Where a key takes one of several forms (a field is a type name or a mapping; an emitted event is
a name or `{event, map}`), a callable discriminator picks the form from the value itself, so that a
wrong value gets one error for the form it was written in instead of one per alternative. A key
with no natural default and no value (`table:` alone) is an error, as before (`base.Given`).

    base.py         what every construct shares (strict models, names, forms, Given)
    fields.py       fields and the named types of `types:`
    events.py       aggregates, events, older versions and upcast steps
    commands.py     commands, rules, emitted events
    read_models.py  projections and queries
    scenarios.py    scenarios
    integration.py  integration events published and consumed
    Domain (here)   the file

To add a key: add it to its model with a docstring, check its meaning in `checks/`, document it in
docs/domain-language.md. To add a section: a module here, a field of `Domain`, a module in `checks/`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from acci_gen.spec.language.base import (
    APPLY_OPS,
    BUILTIN_ERRORS,
    HANDLER_ACTIONS,
    PASCAL,
    SNAKE,
    STEP_KINDS,
    Pascal,
    Snake,
    Spec,
)
from acci_gen.spec.language.column_values import (
    AddTo,
    Coalesce,
    Greatest,
    Least,
    ReadModelScenario,
    SubtractFrom,
)
from acci_gen.spec.language.commands import Command, EmitSpec, ObjectOf, Rule, ValueDef
from acci_gen.spec.language.events import (
    AddOf,
    AddStep,
    Aggregate,
    AppendOf,
    CombineStep,
    Event,
    MapStep,
    OldVersion,
    RemoveOf,
    RemoveStep,
    RenameStep,
    SplitStep,
    SubtractOf,
    ValueOf,
)
from acci_gen.spec.language.fields import EnumType, FieldSpec, NamedType, ObjectType
from acci_gen.spec.language.integration import Consumption, IntegrationEvent, PublicVersion, Reaction
from acci_gen.spec.language.multi import ROLE_TEXT, RoleSpec
from acci_gen.spec.language.policies import (
    Compensation,
    Policy,
    PolicyScenario,
    ScheduleEffect,
    SendEffect,
)
from acci_gen.spec.language.read_models import (
    CustomHandler,
    DeleteHandler,
    Filter,
    InsertHandler,
    Projection,
    Query,
    UpdateHandler,
    UpsertHandler,
)
from acci_gen.spec.language.scenarios import Scenario, ScenarioMetadata, ThenError

__all__ = [
    "APPLY_OPS",
    "BUILTIN_ERRORS",
    "HANDLER_ACTIONS",
    "PASCAL",
    "ROLE_TEXT",
    "SECTIONS",
    "SNAKE",
    "STEP_KINDS",
    "AddOf",
    "AddStep",
    "AddTo",
    "Aggregate",
    "AppendOf",
    "Coalesce",
    "CombineStep",
    "Command",
    "Compensation",
    "Consumption",
    "CustomHandler",
    "DeleteHandler",
    "Domain",
    "EmitSpec",
    "EnumType",
    "Event",
    "FieldSpec",
    "Filter",
    "Greatest",
    "InsertHandler",
    "IntegrationEvent",
    "Least",
    "MapStep",
    "ObjectOf",
    "ObjectType",
    "OldVersion",
    "Policy",
    "PolicyScenario",
    "Projection",
    "PublicVersion",
    "Query",
    "Reaction",
    "ReadModelScenario",
    "RemoveOf",
    "RemoveStep",
    "RenameStep",
    "RoleSpec",
    "Rule",
    "Scenario",
    "ScenarioMetadata",
    "ScheduleEffect",
    "SendEffect",
    "SplitStep",
    "SubtractFrom",
    "SubtractOf",
    "ThenError",
    "UpdateHandler",
    "UpsertHandler",
    "ValueDef",
    "ValueOf",
]


class Domain(Spec):
    """An ACCI domain: one bounded context for acci-gen."""

    what: ClassVar[str] = "a domain file"

    domain: Snake
    """The package name of the generated code (snake_case)."""
    description: str | None = None
    """What the bounded context is about; the package's docstring."""
    compatibility: Literal["backward_transitive", "backward", "none"] = "backward_transitive"
    """Which older event versions must stay readable as the current class: backward_transitive
    (all), backward (the one before the current) or none (hand-written upcasters are trusted)."""
    types: dict[Pascal, NamedType] | None = None
    """Enums and nested objects, usable as field types anywhere in the file."""
    aggregates: dict[Pascal, Aggregate] | None = None
    """Aggregates by name."""
    events: dict[Pascal, Event] | None = None
    """Events by name (past tense)."""
    commands: dict[Pascal, Command] | None = None
    """Commands by name (imperative)."""
    projections: dict[Snake, Projection] | None = None
    """Read models by name."""
    queries: dict[Snake, Query] | None = None
    """Queries by name."""
    policies: dict[Snake, Policy] | None = None
    """Policies (process managers) by name: events that lead to commands, now or later."""
    scenarios: list[Scenario] | None = None
    """Examples of what each command does; each becomes a generated test."""
    public_types: dict[Pascal, NamedType] | None = None
    """Enums and nested objects of the public shapes (`integration_events` fields), apart from
    `types:` so that internal types can change without breaking consumers."""
    integration_events: dict[Pascal, IntegrationEvent] | None = None
    """Public events other services consume, each mapped from an internal event."""
    consumes: dict[Snake, Consumption] | None = None
    """Other domains' public events, by publishing domain, and the commands they become here."""


#: The sections whose items are named (a broken item is left out of the meaning checks).
SECTIONS = (
    "types",
    "aggregates",
    "events",
    "commands",
    "projections",
    "queries",
    "policies",
    "public_types",
    "integration_events",
    "consumes",
)
