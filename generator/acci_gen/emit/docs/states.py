"""The state diagram of an aggregate in the generated docs: the values of its status field (the first
enum or bool field some event sets to a literal) and the events that move it between them."""

from __future__ import annotations

import json
from typing import Any

from acci_gen.emit.text import mermaid_label
from acci_gen.model import MISSING, Aggregate, Domain, Event, Field, Rule

_STATUS_TYPES = ("enum", "bool")


def state_diagram(domain: Domain, aggregate: Aggregate) -> list[str]:
    """The Mermaid block and the sentence under it."""
    return _States(domain).diagram(aggregate)


class _States:
    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.named = {t.name: t for t in domain.types}

    def diagram(self, aggregate: Aggregate) -> list[str]:
        events = [e for e in self.domain.events if e.aggregate == aggregate.name]
        creating = self.creating_events(aggregate, events)
        status = self.status_field(aggregate, events)
        lines = ["```mermaid", "stateDiagram-v2"]
        if status is None:
            state = f"s_{aggregate.name}"
            lines.append(f'    state "{aggregate.name} exists" as {state}')
            for event in creating:
                lines.append(f"    [*] --> {state} : {event.name}")
            for event in events:
                if event not in creating:
                    lines.append(f"    {state} --> {state} : {event.name}")
            lines += ["```", ""]
            names = ", ".join(e.name for e in creating) or "its first event"
            lines += [
                f"The domain file does not say which events change a status of {aggregate.name}: "
                f"it is created by {names}, and the other events change it in place.",
                "",
            ]
            return lines
        values = self.values(status)
        ids = {
            value: "s_" + "".join(c if c.isalnum() else "_" for c in self.shown(value)) for value in values
        }
        for value in values:
            lines.append(f'    state "{status.name} = {mermaid_label(self.shown(value))}" as {ids[value]}')
        initial = status.default if status.default is not MISSING else values[0]
        for event in creating:
            target = self.sets(event, status.name)
            lines.append(f"    [*] --> {ids[initial if target is MISSING else target]} : {event.name}")
        for event in events:
            if event in creating:
                continue
            target = self.sets(event, status.name)
            for source in self.possible_sources(event, status.name, values):
                lines.append(
                    f"    {ids[source]} --> {ids[source if target is MISSING else target]} : {event.name}"
                )
        lines += ["```", ""]
        lines += [
            f"States are the values of `{status.name}`. An event moves {aggregate.name} to the value its "
            "`apply` sets (or leaves it, a loop); where an event may happen follows from the `requires` "
            "rules of the commands that emit it.",
            "",
        ]
        return lines

    def creating_events(self, aggregate: Aggregate, events: list[Event]) -> list[Event]:
        names = [
            emit.event
            for c in self.domain.commands
            if c.aggregate == aggregate.name and c.precondition == "must_not_exist"
            for emit in c.emits
        ]
        chosen = [e for e in events if e.name in names]
        return chosen or events[:1]

    def status_field(self, aggregate: Aggregate, events: list[Event]) -> Field | None:
        """The first enum or bool state field that some event sets to a literal value."""
        for f in aggregate.state:
            if f.type.kind not in _STATUS_TYPES:
                continue
            if f.type.kind == "enum" and self.named.get(f.type.name) is None:
                continue
            if any(self.sets(e, f.name) is not MISSING for e in events):
                return f
        return None

    def values(self, f: Field) -> list[Any]:
        if f.type.kind == "bool":
            return [True, False]
        named = self.named[f.type.name]
        return list(named.values or [])

    @staticmethod
    def shown(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, default=str).strip('"')

    @staticmethod
    def sets(event: Event, name: str) -> Any:
        """The literal `event` sets the state field `name` to, or MISSING."""
        for apply in event.applies:
            if apply.target == name and apply.expr.source == "literal" and apply.expr.op == "set":
                return apply.expr.literal
        return MISSING

    def possible_sources(self, event: Event, name: str, values: list[Any]) -> list[Any]:
        """The values of the status field in which `event` can happen: all of them, narrowed by
        the `requires` rules of the commands that emit it (if every such command has one)."""
        commands = [c for c in self.domain.commands if any(e.event == event.name for e in c.emits)]
        if not commands:
            return values
        allowed: list[Any] = []
        for command in commands:
            narrowed = list(values)
            for rule in command.rules:
                narrowed = [v for v in narrowed if _rule_allows(rule, name, v)]
            allowed += [v for v in narrowed if v not in allowed]
        return [v for v in values if v in allowed]


def _rule_allows(rule: Rule, name: str, value: Any) -> bool:
    """False when `rule` compares the state field `name` with a literal and `value` fails it."""
    left, right = rule.left, rule.right
    if right.source == "state" and left.source == "literal":
        left, right = right, left
    if left.source != "state" or left.name != name or right.source != "literal":
        return True
    if rule.op == "==":
        return bool(value == right.literal)
    if rule.op == "!=":
        return bool(value != right.literal)
    return True
