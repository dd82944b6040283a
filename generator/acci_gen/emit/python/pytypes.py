"""Python spellings of the language's types, constraints, defaults and values. One spelling per
thing: events, commands, states, rows and parameters all declare their fields through these."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from acci_gen.emit.text import Code, py_str, py_value
from acci_gen.model import EMAIL_PATTERN, MISSING, Field, TypeRef
from acci_gen.names import PYTHON_TYPES

#: The longest e-mail address (RFC 5321's path limit).
EMAIL_MAX_LENGTH = 254


def base_type(ref: TypeRef) -> Code:
    if ref.kind == "list":
        assert ref.item is not None
        return Code(f"list[{base_type(ref.item)}]")
    return Code(PYTHON_TYPES.get(ref.kind, ref.name))


def decimal_value(value: Any) -> Code:
    return Code(f"Decimal({py_str(Decimal(str(value)))})")


def constraints(field: Field) -> list[Code]:
    """`name=value` of each constraint, in one order (bounds, lengths, pattern)."""
    items: list[tuple[str, Any]] = [
        ("ge", field.minimum),
        ("le", field.maximum),
        ("min_length", field.min_length if field.min_length is not None else field.min_items),
        ("max_length", field.max_length if field.max_length is not None else field.max_items),
        ("pattern", field.pattern),
        ("max_digits", field.precision),
        ("decimal_places", field.scale),
    ]
    if field.type.kind == "email":
        max_length = field.max_length if field.max_length is not None else EMAIL_MAX_LENGTH
        items = [("min_length", field.min_length), ("max_length", max_length), ("pattern", EMAIL_PATTERN)]
    out = []
    for name, value in items:
        if value is None:
            continue
        if field.type.kind == "decimal" and name in ("ge", "le"):
            out.append(Code(f"{name}={decimal_value(value)}"))
        else:
            out.append(Code(f"{name}={py_value(value)}"))
    return out


def annotation(field: Field) -> Code:
    text = base_type(field.type) + (" | None" if field.optional else "")
    extra = constraints(field)
    return Code(f"Annotated[{text}, Field({', '.join(extra)})]" if extra else text)


def value_of(value: Any, ref: TypeRef) -> Code:
    """A value of the type as Python source: an enum member, a Decimal, or a plain literal."""
    if value is None:
        return Code("None")
    if ref.kind == "enum":
        return Code(f"{ref.name}.{value}")
    if ref.kind == "decimal":
        return decimal_value(value)
    return py_value(value)


def default(field: Field) -> Code | None:
    """The default's Python source, or None when the field is required."""
    if field.default is MISSING:
        return Code("None") if field.optional else None
    return value_of(field.default, field.type)


def declaration(field: Field) -> Code:
    value = default(field)
    text = f"{field.name}: {annotation(field)}"
    return Code(text if value is None else f"{text} = {value}")


def plain_declaration(field: Field, *, nullable: bool = False) -> Code:
    """A field with its type alone (a row's column, a method's argument): no constraints."""
    text = f"{field.name}: {base_type(field.type)}"
    if nullable:
        return Code(f"{text} | None = None")
    value = default(field)
    text += " | None" if field.optional else ""
    return Code(text if value is None else f"{text} = {value}")
