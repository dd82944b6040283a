"""Declarative upcast steps: what each does to a payload (at generation time, to compute the
expected values of the generated tests) and to a set of fields (to check compatibility).

    add:     {field: default, ...}          a new field with a default
    rename:  {old: new, ...}
    remove:  [field, ...]
    map:     {field: {old value: new value}}  e.g. an enum value renamed
             {field: {divide: [source, number]}}  a unit converted (also multiply), e.g. cents
    split:   {field: old, into: [a, b], separator: " "}   the first parts, the rest in the last
    combine: {fields: [a, b], into: new, separator: " "}
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from acci_gen.model import MISSING, Field, OldVersion, Step, TypeRef

__all__ = [
    "KINDS",
    "UNIT_OPS",
    "OldVersion",
    "Step",
    "apply_to_data",
    "apply_to_fields",
    "conversion",
    "convert",
    "has_default",
]

#: The arithmetic a `map` step may do to convert a unit: {field: {divide: [source, number]}}.
UNIT_OPS = ("divide", "multiply")


def conversion(table: Any) -> tuple[str, str, Decimal] | None:
    """(op, source field, number) when a `map` entry converts a unit, else None (a value table)."""
    if not isinstance(table, dict) or len(table) != 1:
        return None
    ((op, operands),) = table.items()
    if op not in UNIT_OPS or not isinstance(operands, list) or len(operands) != 2:
        return None
    source, number = operands
    if not isinstance(source, str) or isinstance(number, bool):
        return None
    try:
        factor = Decimal(str(number))
    except ArithmeticError:
        return None
    return (str(op), source, factor) if factor.is_finite() and factor != 0 else None


def convert(value: Any, op: str, factor: Decimal) -> str:
    """A number (as stored: a number or a decimal string) converted, as a decimal string."""
    number = Decimal(str(value))
    return str(number / factor if op == "divide" else number * factor)


KINDS = ("add", "rename", "remove", "map", "split", "combine")


def apply_to_data(steps: list[Step], data: dict[str, Any]) -> dict[str, Any]:
    """The payload after the steps, as the generated upcaster computes it."""
    out = copy.deepcopy(data)
    for step in steps:
        args = step.args
        if step.kind == "add":
            for name, value in args.items():
                out.setdefault(name, copy.deepcopy(value))
        elif step.kind == "rename":
            for old, new in args.items():
                if old in out:
                    out[new] = out.pop(old)
        elif step.kind == "remove":
            for name in args:
                out.pop(name, None)
        elif step.kind == "map":
            for name, table in args.items():
                unit = conversion(table)
                if unit is not None:
                    op, source, factor = unit
                    if out.get(source) is not None:
                        out[name] = convert(out[source], op, factor)
                elif name in out and out[name] in table:
                    out[name] = table[out[name]]
        elif step.kind == "split":
            value = out.pop(args["field"], None)
            parts = (
                [] if value is None else str(value).split(args.get("separator", " "), len(args["into"]) - 1)
            )
            for index, name in enumerate(args["into"]):
                out[name] = parts[index] if index < len(parts) else ""
        elif step.kind == "combine":
            separator = args.get("separator", " ")
            values = [out.pop(name, None) for name in args["fields"]]
            out[args["into"]] = separator.join(str(v) for v in values if v not in (None, ""))
    return out


def apply_to_fields(steps: list[Step], fields: dict[str, Field]) -> dict[str, Field]:
    """The fields a payload has after the steps (for the compatibility check)."""
    out = dict(fields)
    string = TypeRef("string", "string")
    for step in steps:
        args = step.args
        if step.kind == "add":
            for name, value in args.items():
                if name not in out:
                    out[name] = Field(name, _type_of(value), default=value)
        elif step.kind == "rename":
            for old, new in args.items():
                if old in out:
                    moved = out.pop(old)
                    out[new] = Field(new, moved.type, optional=moved.optional, default=moved.default)
        elif step.kind == "remove":
            for name in args:
                out.pop(name, None)
        elif step.kind == "map":  # values change, the field stays; a conversion makes a decimal
            for name, table in args.items():
                unit = conversion(table)
                if unit is not None and unit[1] in out:
                    optional = out[unit[1]].optional
                    out[name] = Field(name, TypeRef("decimal", "decimal"), optional=optional)
        elif step.kind == "split":
            source = out.pop(args["field"], None)
            for name in args["into"]:
                out[name] = Field(name, string, optional=source is None or source.optional)
        elif step.kind == "combine":
            for name in args["fields"]:
                out.pop(name, None)
            out[args["into"]] = Field(args["into"], string)
    return out


def _type_of(value: Any) -> TypeRef:
    if isinstance(value, bool):
        return TypeRef("bool", "bool")
    if isinstance(value, int):
        return TypeRef("int", "int")
    if isinstance(value, float):
        return TypeRef("decimal", "decimal")
    if isinstance(value, list):
        return TypeRef("list", "list")
    if isinstance(value, dict):
        return TypeRef("object", "object")
    return TypeRef("string", "string")


def has_default(field: Field) -> bool:
    return field.optional or field.default is not MISSING
