"""The handler of a command on several aggregates, as its template reads it: the roles, each
role's id from the command, the rules on the roles' states, and the events of each role."""

from __future__ import annotations

from typing import Any

from acci_gen import names
from acci_gen.emit.python.exprs import condition_source, expr_source, needs_state
from acci_gen.emit.text import Code, py_str
from acci_gen.model import METADATA_FIELDS, Command, Domain, Field, TypeRef

PRECONDITIONS = {"must_exist": "MUST_EXIST", "must_not_exist": "MUST_NOT_EXIST"}


def state_variable(role: str) -> str:
    return f"{role}_state"


def multi_handler_view(domain: Domain, command: Command) -> dict[str, Any]:
    scopes: dict[str, dict[str, Field]] = {
        "command": {f.name: f for f in command.fields},
        "metadata": {k: Field(k, TypeRef(v, v)) for k, v in METADATA_FIELDS.items()},
    }
    refs: dict[str, str] = {}
    for role in command.roles:
        aggregate = domain.aggregate(role.aggregate)
        assert aggregate is not None
        scopes[role.name] = {f.name: f for f in aggregate.state}
        refs |= {f"{role.name}.{f.name}": f"{state_variable(role.name)}.{f.name}" for f in aggregate.state}
    read = {
        ref.source
        for expr in [
            *(e for rule in command.rules for e in (rule.left, rule.right)),
            *(expr for emit in command.emits for _, expr in emit.mapping),
        ]
        for ref in expr.refs()
    }
    read |= {emit.role for emit in command.emits for _, expr in emit.mapping if needs_state(expr)}
    states = [
        {
            "variable": state_variable(role.name),
            "role": py_str(role.name),
            "aggregate": role.aggregate,
            "existing": role.precondition == "must_exist",
        }
        for role in command.roles
        if role.name in read
    ]
    rules = []
    for rule in command.rules:
        left_field = scopes.get(rule.left.source, {}).get(rule.left.name)
        left_type = left_field.type if left_field is not None else rule.left.type
        test = condition_source(rule.left, rule.op, rule.right, left_type, negate=True, refs=refs)
        rules.append({"test": test, "message": rule.message, "code": rule.code})
    by_role: dict[str, list[Code]] = {}
    for emit in command.emits:
        event = domain.event(emit.event)
        assert event is not None
        role_refs = refs | {
            f"state.{name}": f"{state_variable(emit.role)}.{name}" for name in scopes[emit.role]
        }
        args = []
        for name, expr in emit.mapping:
            source = (scopes[emit.role] if expr.source == "state" else scopes.get(expr.source, {})).get(
                expr.name
            )
            args.append(f"{name}={expr_source(expr, event.field(name), source, refs=role_refs)}")
        by_role.setdefault(emit.role, []).append(Code(f"{event.name}({', '.join(args)})"))
    roles = []
    for role in command.roles:
        parts = [py_str(role.name), role.aggregate]
        if role.precondition in PRECONDITIONS:
            parts.append(f"Precondition.{PRECONDITIONS[role.precondition]}")
        roles.append(Code(f"Role({', '.join(parts)})"))
    return {
        "multi": True,
        "name": names.handler_class(command.name),
        "command": command.name,
        "roles": roles,
        "ids": [Code(f"{py_str(r.name)}: str(command.data.{r.identity})") for r in command.roles],
        "retries": command.retries_on_conflict,
        "states": states,
        "rules": rules,
        "emitted": [Code(f"{py_str(role)}: [{', '.join(events)}]") for role, events in by_role.items()],
        "stub": None,
    }
