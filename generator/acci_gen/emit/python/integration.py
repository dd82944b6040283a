"""The integration module of a domain (`<domain>/integration.py`): its public event classes and
the functions that map internal events to them (the relay's `PUBLISHER`), and the classes of the
events it consumes with the functions that turn them into its commands (`CONSUMERS`)."""

from __future__ import annotations

from typing import Any

from acci_gen import names
from acci_gen.emit.python.exprs import expr_source
from acci_gen.emit.python.pytypes import declaration, value_of
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_docstring
from acci_gen.model import Condition, Domain, Expr, Field, NamedType, TypeRef
from acci_gen.spec.checks.integration import consumed_class, consumer_name, public_class, reaction_function
from acci_gen.spec.checks.public_types import crosses

#: The test that refuses a condition: its operator inverted.
_INVERSE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def has_integration(domain: Domain) -> bool:
    return bool(domain.integration_events or domain.consumes)


def render_integration(domain: Domain, header: Code) -> str:
    classes: list[dict[str, Any]] = []
    types = [_type(t) for t in domain.public_types]
    internal = {t.name: t for t in domain.types}
    public_types = {t.name: t for t in domain.public_types}
    publications = []
    for public in domain.integration_events:
        event = domain.event(public.event)
        assert event is not None
        scopes = {"event": {f.name: f for f in event.fields}}
        cls = public_class(public.name, public.version)
        classes.append(_class(cls, public.name, public.version, public.fields, public.description))
        targets = {f.name: f for f in public.fields}
        when = f", when:{_conditions_text(public.conditions)}" if public.conditions else "."
        publications.append(
            {
                "function": f"publish_{names.snake(public.name)}",
                "internal": event.name,
                "public": cls,
                "doc": py_docstring(f"{event.name} as the public {public.name} v{public.version}{when}"),
                "tests": [_refusal(c, scopes, "events") for c in public.conditions],
                "arguments": _arguments(public.mapping, targets, scopes, "events", (internal, public_types)),
            }
        )
    consumers = []
    for consumption in domain.consumes:
        reactions = []
        types += [_type(t) for t in consumption.types]
        consumed_types = {t.name: t for t in consumption.types}
        for consumed in consumption.events:
            command = domain.command(consumed.command)
            assert command is not None
            cls = consumed_class(consumption.domain, consumed.name, consumed.version)
            classes.append(
                _class(cls, consumed.name, consumed.version, consumed.fields, consumed.description)
            )
            scopes = {"event": {f.name: f for f in consumed.fields}}
            when = f", when:{_conditions_text(consumed.conditions)}" if consumed.conditions else "."
            reactions.append(
                {
                    "function": reaction_function(consumption.domain, consumed.name, consumed.version),
                    "public": cls,
                    "command": command.name,
                    "handler": names.handler_class(command.name),
                    "doc": py_docstring(
                        f"{consumption.domain}'s {consumed.name} v{consumed.version} as {command.name}{when}"
                    ),
                    "tests": [_refusal(c, scopes, "events") for c in consumed.conditions],
                    "arguments": _arguments(
                        consumed.mapping,
                        {f.name: f for f in command.fields},
                        scopes,
                        "events",
                        (consumed_types, internal),
                    ),
                }
            )
        consumers.append(
            {
                "name": consumer_name(domain.name, consumption.domain),
                "domain": consumption.domain,
                "reactions": reactions,
            }
        )
    parts = []
    if domain.integration_events:
        parts.append("what it publishes to other services")
    if domain.consumes:
        parts.append("what it takes from " + ", ".join(c.domain for c in domain.consumes))
    summary = py_docstring(
        f"The integration events of the {domain.name} domain:\n{' and '.join(parts)}.\n"
        "The contract other teams vendor is asyncapi.yaml beside this module."
    )
    return render(
        "integration.py.jinja2",
        header=header,
        domain=domain,
        summary=summary,
        types=types,
        classes=classes,
        publications=publications,
        consumers=consumers,
        reactions=[r for c in consumers for r in c["reactions"]],
    )


def _class(name: str, event_type: str, version: int, fields: list[Field], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "event_type": event_type,
        "version": version,
        "doc": py_docstring(description) if description else None,
        "fields": [declaration(f) for f in fields],
    }


def _type(named: NamedType) -> dict[str, Any]:
    """A public enum or object of the integration module (this domain's, or a publisher's)."""
    return {
        "name": named.name,
        "doc": py_docstring(named.description) if named.description else None,
        "members": named.values,
        "fields": [declaration(f) for f in named.fields],
    }


def _conditions_text(conditions: list[Condition]) -> str:
    """The conditions, one per line (they are the domain file's text)."""
    return "".join(f"\n- {c.text}" for c in conditions)


def _qualified(value: Any, ref: TypeRef, module: str) -> Code:
    """A literal of the type, its enum named through the module that has it in scope."""
    text = value_of(value, ref)
    local = ref.public  # a public type is a class of the integration module itself
    return Code(f"{module}.{text}") if ref.kind == "enum" and value is not None and not local else text


def _refusal(condition: Condition, scopes: dict[str, dict[str, Field]], module: str) -> Code:
    """The test under which the condition does not hold."""
    left = expr_source(condition.left, None, None)
    right_expr = condition.right
    if right_expr.source == "literal" and isinstance(right_expr.literal, bool):
        wanted = right_expr.literal if condition.op == "==" else not right_expr.literal
        return Code(f"not {left}" if wanted else left)
    if right_expr.source == "literal" and right_expr.literal is None:
        return Code(f"{left} {'is not' if condition.op == '==' else 'is'} None")
    left_field = scopes.get(condition.left.source, {}).get(condition.left.name)
    if right_expr.source == "literal" and left_field is not None:
        right = _qualified(right_expr.literal, left_field.type, module)
    else:
        right = expr_source(right_expr, None, None)
    return Code(f"{left} {_INVERSE[condition.op]} {right}")


def _arguments(
    mapping: list[tuple[str, Expr]],
    targets: dict[str, Field],
    scopes: dict[str, dict[str, Field]],
    module: str,
    types: tuple[dict[str, NamedType], dict[str, NamedType]],
) -> list[Code]:
    out = []
    for name, expr in mapping:
        target = targets[name]
        source = scopes.get(expr.source, {}).get(expr.name)
        if expr.source == "literal":
            value = _qualified(expr.literal, target.type, module)
        elif source is not None and (crosses(source.type) or crosses(target.type)):
            value = _converted(Code(f"{expr.source}.{expr.name}"), source, target, types, module, 0)
        else:
            value = expr_source(expr, target, source)
        out.append(Code(f"{name}={value}"))
    return out


def _converted(
    value: Code,
    source: Field,
    target: Field,
    types: tuple[dict[str, NamedType], dict[str, NamedType]],
    module: str,
    depth: int,
) -> Code:
    """`value` (of `source`) as a value of `target`, across public and internal types: an enum by
    its value, an object field by field, a list item by item (the checks made sure each fits)."""
    converted = _converted_type(value, source.type, target.type, types, module, depth)
    if source.optional and converted != value:
        return Code(f"None if {value} is None else {converted}")
    return converted


def _converted_type(
    value: Code,
    source: TypeRef,
    target: TypeRef,
    types: tuple[dict[str, NamedType], dict[str, NamedType]],
    module: str,
    depth: int,
) -> Code:
    if source.item is not None and target.item is not None:
        item = Code(f"item{depth}")
        converted = _converted_type(item, source.item, target.item, types, module, depth + 1)
        return value if converted == item else Code(f"[{converted} for {item} in {value}]")
    cls = target.name if target.public else f"{module}.{target.name}"
    if source.kind == "enum" and target.kind == "string":
        return Code(f"{value}.value")
    if source.kind == "enum" and target.kind == "enum":
        return Code(f"{cls}({value}.value)")
    if source.kind == "object" and target.kind == "object":
        fields = {f.name: f for f in types[0][source.name].fields}
        parts = [
            f"{f.name}={_converted(Code(f'{value}.{f.name}'), fields[f.name], f, types, module, depth)}"
            for f in types[1][target.name].fields
            if f.name in fields
        ]
        return Code(f"{cls}({', '.join(parts)})")
    if (source.kind, target.kind) == ("int", "decimal"):
        return Code(f"Decimal({value})")
    return value
