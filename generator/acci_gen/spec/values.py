"""Checks that a literal (a default, an example, a scenario's data) fits a field's type."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from acci_gen.model import EMAIL_PATTERN, Field, NamedType, TypeRef

TypeLookup = dict[str, NamedType]

#: The kind of a field whose type has its own error (unknown or broken): it fits anything, so that
#: one mistake in a type is reported once, not again at every use of the field.
UNCHECKED = "unchecked"


def fits(kind: str, kinds: tuple[str, ...]) -> bool:
    """Whether a field of `kind` is one of `kinds` (an unchecked field is)."""
    return kind == UNCHECKED or kind in kinds


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def value_problem(value: Any, field: Field, types: TypeLookup) -> str | None:
    """Why `value` does not fit `field`, or None when it does."""
    if value is None:
        return None if field.optional else "null is not allowed: the field is not optional"
    return _type_problem(value, field.type, types) or _constraint_problem(value, field)


def _type_problem(value: Any, ref: TypeRef, types: TypeLookup) -> str | None:
    kind = ref.kind
    if kind == UNCHECKED:
        return None
    if kind == "list":
        if not isinstance(value, list):
            return f"{describe(value)} is not a list"
        assert ref.item is not None
        for index, item in enumerate(value):
            problem = _type_problem(item, ref.item, types)
            if problem:
                return f"item {index}: {problem}"
        return None
    if kind == "enum":
        values = types[ref.name].values or []
        if value not in values:
            return f"{describe(value)} is not one of {ref.name}'s values ({', '.join(values)})"
        return None
    if kind == "object":
        if not isinstance(value, dict):
            return f"{describe(value)} is not a mapping of {ref.name}'s fields"
        fields = {f.name: f for f in types[ref.name].fields}
        for key in value:
            if key not in fields:
                return f"{ref.name} has no field '{key}'"
        for name, sub in fields.items():
            if name not in value:
                if sub.required:
                    return f"{ref.name}.{name} is missing"
                continue
            problem = value_problem(value[name], sub, types)
            if problem:
                return f"{ref.name}.{name}: {problem}"
        return None
    return _scalar_problem(value, kind)


def _scalar_problem(value: Any, kind: str) -> str | None:
    ok = True
    if kind in ("string", "email"):
        ok = isinstance(value, str) and (kind == "string" or re.search(EMAIL_PATTERN, value) is not None)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "decimal":
        ok = _as_decimal(value) is not None
    elif kind == "uuid":
        ok = isinstance(value, str) and _parses(uuid.UUID, value)
    elif kind == "date":
        ok = isinstance(value, str) and _parses(date.fromisoformat, value)
    elif kind == "datetime":
        ok = isinstance(value, str) and _parses(_aware, value)
    if ok:
        return None
    if isinstance(value, bool) and kind in ("string", "email", "uuid", "date", "datetime", "decimal"):
        return (
            f"{describe(value)} is not a valid {kind}: YAML reads yes/no/on/off/true/false as "
            "true/false, so quote it"
        )
    hints = {
        "date": " (write YYYY-MM-DD)",
        "datetime": " (write an ISO 8601 time with its offset, e.g. 2024-01-31T12:00:00+00:00)",
        "uuid": " (write a UUID such as 3f2b1c9e-7a4d-4e8b-9c1f-0a2b3c4d5e6f)",
        "decimal": " (write a number, or a string such as '12.50')",
        "email": " (write an address such as ada@example.com)",
    }
    return f"{describe(value)} is not a valid {kind}{hints.get(kind, '')}"


def _constraint_problem(value: Any, field: Field) -> str | None:
    if isinstance(value, str) and field.type.kind in ("string", "email"):
        if field.min_length is not None and len(value) < field.min_length:
            return f"{describe(value)} is shorter than min_length {field.min_length}"
        if field.max_length is not None and len(value) > field.max_length:
            return f"{describe(value)} is longer than max_length {field.max_length}"
        if field.pattern is not None and re.search(field.pattern, value) is None:
            return f"{describe(value)} does not match the pattern {field.pattern!r}"
    if field.type.kind in ("int", "decimal"):
        number = _as_decimal(value)
        if number is not None:
            if field.minimum is not None and number < Decimal(str(field.minimum)):
                return f"{describe(value)} is less than min {field.minimum}"
            if field.maximum is not None and number > Decimal(str(field.maximum)):
                return f"{describe(value)} is more than max {field.maximum}"
            digits = _digits(number)
            if field.scale is not None and digits[1] > field.scale:
                return f"{describe(value)} has more than {field.scale} digits after the point (scale)"
            if field.precision is not None and sum(digits) > field.precision:
                return f"{describe(value)} has more than {field.precision} digits (precision)"
    if isinstance(value, list):
        if field.min_items is not None and len(value) < field.min_items:
            return f"the list has fewer than min_items {field.min_items} items"
        if field.max_items is not None and len(value) > field.max_items:
            return f"the list has more than max_items {field.max_items} items"
    return None


def _digits(number: Decimal) -> tuple[int, int]:
    """(digits before the point, digits after it) as pydantic counts them for max_digits."""
    _, digits, exponent = number.normalize().as_tuple()
    assert isinstance(exponent, int)
    if exponent >= 0:
        return len(digits) + exponent, 0
    after = -exponent
    return max(len(digits) - after, 0), after


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _aware(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("naive")
    return parsed


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
