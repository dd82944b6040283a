"""The domain's generated tests as data: its scenarios, and a sample of every event for the round
trip; acci.testing runs them."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from acci_gen import names
from acci_gen.emit.python.samples import sample_data
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_str, py_value
from acci_gen.model import Domain, Scenario


class SharedData:
    """The `{type: data}` values of a test table. The ones it repeats are named once, as module
    constants, the way a person would write the table: count every value first (`see`), then
    render each with `ref`."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._names: dict[str, Code] = {}
        self.constants: list[tuple[Code, Code]] = []

    @staticmethod
    def _key(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    def see(self, *values: dict[str, Any]) -> None:
        self._counts.update(self._key(value) for value in values)

    def ref(self, value: dict[str, Any]) -> Code:
        key = self._key(value)
        if self._counts[key] < 2:
            return py_value(value)
        if key not in self._names:
            base = "_" + names.snake(next(iter(value))).upper()
            taken = {name for name, _ in self.constants}
            name, number = base, 2
            while name in taken:
                name, number = f"{base}_{number}", number + 1
            self._names[key] = Code(name)
            self.constants.append((Code(name), py_value(value)))
        return self._names[key]

    def refs(self, values: list[dict[str, Any]]) -> Code:
        return Code("[" + ", ".join(self.ref(v) for v in values) + "]")


def render_tests(domain: Domain, header: Code) -> str:
    types = {t.name: t for t in domain.types}
    shared = SharedData()
    for s in domain.scenarios:
        shared.see(*_parts(s))
    scenarios = [scenario_data(s, shared) for s in domain.scenarios]
    return render(
        "test_domain.py.jinja2",
        header=header,
        domain=domain,
        constants=shared.constants,
        scenarios=scenarios,
        round_trips=[py_value({e.name: sample_data(e.fields, types)}) for e in domain.events],
        multi=any(s.given_roles is not None for s in domain.scenarios),
    )


def _parts(scenario: Scenario) -> list[dict[str, Any]]:
    given = [{name: data} for name, data in scenario.given]
    then = [{name: data} for name, data in scenario.then_events or []]
    for table, into in ((scenario.given_roles, given), (scenario.then_roles, then)):
        into += [{name: data} for events in (table or {}).values() for name, data in events]
    return [{scenario.command: scenario.command_data}, *given, *then]


def scenario_data(scenario: Scenario, shared: SharedData) -> Code:
    """`Scenario(...)` with the scenario's parts as the domain file writes them (`MultiScenario`
    for a command on several aggregates, its events by role)."""
    parts: list[str] = [py_str(scenario.name)]
    if scenario.given_roles is not None:
        if scenario.given_roles:
            parts.append(f"given={_by_role(scenario.given_roles, shared)}")
        parts.append(f"when={shared.ref({scenario.command: scenario.command_data})}")
        if scenario.then_roles:
            parts.append(f"then={_by_role(scenario.then_roles, shared)}")
        if scenario.then_error is not None:
            parts.append(f"error={py_str(scenario.then_error)}")
        if scenario.metadata:
            parts.append(f"metadata={py_value(scenario.metadata)}")
        return Code(f"MultiScenario({', '.join(parts)})")
    if scenario.given:
        parts.append(f"given={shared.refs([{name: data} for name, data in scenario.given])}")
    parts.append(f"when={shared.ref({scenario.command: scenario.command_data})}")
    if scenario.then_events:
        parts.append(f"then={shared.refs([{name: data} for name, data in scenario.then_events])}")
    if scenario.then_error is not None:
        parts.append(f"error={py_str(scenario.then_error)}")
    if scenario.metadata:
        parts.append(f"metadata={py_value(scenario.metadata)}")
    return Code(f"Scenario({', '.join(parts)})")


def _by_role(table: dict[str, list[tuple[str, dict[str, Any]]]], shared: SharedData) -> Code:
    items = [f"{py_str(role)}: {shared.refs([{n: d} for n, d in events])}" for role, events in table.items()]
    return Code("{" + ", ".join(items) + "}")
