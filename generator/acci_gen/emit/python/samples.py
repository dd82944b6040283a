"""Sample values that fit a field, for the generated round-trip and precondition tests."""

from __future__ import annotations

from typing import Any

from acci_gen.model import MISSING, Field, NamedType, TypeRef

_SCALARS: dict[str, Any] = {
    "bool": True,
    "uuid": "00000000-0000-4000-8000-000000000001",
    "date": "2024-01-02",
    "datetime": "2024-01-02T03:04:05+00:00",
    "email": "ada@example.com",
}


def sample(field: Field, types: dict[str, NamedType]) -> Any:
    if field.example is not MISSING:
        return field.example
    if field.default is not MISSING and field.default is not None and field.default != []:
        return field.default
    return _sample_type(field.type, field, types)


def _sample_type(ref: TypeRef, field: Field | None, types: dict[str, NamedType]) -> Any:
    if ref.kind == "list":
        assert ref.item is not None
        count = 1
        if field is not None:
            if field.min_items is not None:
                count = max(count, field.min_items)
            if field.max_items is not None:
                count = min(count, field.max_items)
        return [_sample_type(ref.item, None, types) for _ in range(count)]
    if ref.kind == "enum":
        return (types[ref.name].values or [""])[0]
    if ref.kind == "object":
        return sample_data(types[ref.name].fields, types)
    if ref.kind in ("int", "decimal"):
        low = field.minimum if field is not None else None
        high = field.maximum if field is not None else None
        value: Any = 1
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        return int(value) if ref.kind == "int" else str(value)
    if ref.kind == "string":
        size = 1
        if field is not None and field.min_length is not None:
            size = max(size, field.min_length)
        if field is not None and field.max_length is not None:
            size = min(size, field.max_length)
        return "x" * size
    return _SCALARS[ref.kind]


def sample_data(fields: list[Field], types: dict[str, NamedType]) -> dict[str, Any]:
    """A value for every field (optional ones too, so the round trip covers them)."""
    return {f.name: sample(f, types) for f in fields}
