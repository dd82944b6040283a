"""Python spellings of the language's types, constraints, defaults and literals, for the templates.

Literals are written the way `ruff format` writes them (double quotes, one item per line with a
trailing comma), so that the generated files need no formatter.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from acci_gen.model import MISSING, Field, TypeRef
from acci_gen.values import EMAIL_PATTERN

_SCALARS = {
    "string": "str",
    "int": "int",
    "decimal": "Decimal",
    "bool": "bool",
    "uuid": "UUID",
    "date": "date",
    "datetime": "AwareDatetime",
    "email": "str",
}

#: The import each scalar spelling needs: (module, name).
IMPORTS = {
    "Decimal": ("decimal", "Decimal"),
    "UUID": ("uuid", "UUID"),
    "date": ("datetime", "date"),
    "AwareDatetime": ("pydantic", "AwareDatetime"),
}


def base_type(ref: TypeRef) -> str:
    if ref.kind == "list":
        assert ref.item is not None
        return f"list[{base_type(ref.item)}]"
    return _SCALARS.get(ref.kind, ref.name)


def constraints(field: Field) -> list[str]:
    items: list[tuple[str, Any]] = [
        ("ge", field.minimum),
        ("le", field.maximum),
        ("min_length", field.min_length if field.min_length is not None else field.min_items),
        ("max_length", field.max_length if field.max_length is not None else field.max_items),
        ("pattern", field.pattern),
    ]
    if field.type.kind == "email":
        items = [
            ("min_length", field.min_length),
            ("max_length", field.max_length if field.max_length is not None else 254),
            ("pattern", EMAIL_PATTERN),
        ]
    out = []
    for name, value in items:
        if value is None:
            continue
        if field.type.kind == "decimal" and name in ("ge", "le"):
            out.append(f"{name}={decimal_literal(value)}")
        else:
            out.append(f"{name}={literal(value)}")
    return out


def annotation(field: Field) -> str:
    text = base_type(field.type)
    if field.optional:
        text = f"{text} | None"
    extra = constraints(field)
    if extra:
        return f"Annotated[{text}, Field({', '.join(extra)})]"
    return text


def default(field: Field) -> str | None:
    """The default's Python source, or None when the field is required."""
    if field.default is MISSING:
        return "None" if field.optional else None
    value = field.default
    if value is None:
        return "None"
    if field.type.kind == "enum":
        return f"{field.type.name}.{value}"
    if field.type.kind == "decimal":
        return decimal_literal(value)
    return literal(value)


def declaration(field: Field) -> str:
    value = default(field)
    text = f"{field.name}: {annotation(field)}"
    return text if value is None else f"{text} = {value}"


def decimal_literal(value: Any) -> str:
    return f'Decimal("{Decimal(str(value))}")'


def names_used(fields: list[Field]) -> set[str]:
    """The spellings (Decimal, UUID, Annotated, enum and object names...) the declarations use."""
    used: set[str] = set()
    for field in fields:
        ref: TypeRef | None = field.type
        while ref is not None:
            used.add(base_type(ref) if ref.kind != "list" else "list")
            ref = ref.item
        if constraints(field):
            used.update({"Annotated", "Field"})
        if field.type.kind == "decimal" and (field.default is not MISSING or constraints(field)):
            used.add("Decimal")
    return used


def literal(value: Any, indent: int = 0) -> str:
    """A JSON-like value as Python source, exploded like ruff formats a collection with a magic
    trailing comma. `indent` is the column the literal's first line starts at."""
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = [f"{pad}{json.dumps(str(k))}: {literal(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        lines = [f"{pad}{literal(v, indent + 4)}," for v in value]
        return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Decimal):
        return json.dumps(str(value))
    return json.dumps(str(value), ensure_ascii=False)


def validate_call(cls: str, value: dict[str, Any], indent: int) -> str:
    """`cls.model_validate({...})` as ruff formats it when the call starts at column `indent`."""
    if not value:
        return f"{cls}.model_validate({{}})"
    pad = " " * (indent + 4)
    return f"{cls}.model_validate(\n{pad}{literal(value, indent + 4)}\n{' ' * indent})"
