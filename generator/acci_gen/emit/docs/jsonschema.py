"""JSON Schemas of a domain's events and types, for the generated docs."""

from __future__ import annotations

from typing import Any

from acci_gen.model import EMAIL_PATTERN, MISSING, Event, Field, NamedType, TypeRef

_SCALAR_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "int": {"type": "integer"},
    "decimal": {"type": "number", "format": "decimal"},
    "bool": {"type": "boolean"},
    "uuid": {"type": "string", "format": "uuid"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "email": {"type": "string", "pattern": EMAIL_PATTERN, "maxLength": 254},
}


def type_schema(ref: TypeRef) -> dict[str, Any]:
    if ref.kind == "list":
        assert ref.item is not None
        return {"type": "array", "items": type_schema(ref.item)}
    if ref.kind in ("enum", "object"):
        return {"$ref": f"#/$defs/{ref.name}"}
    return dict(_SCALAR_SCHEMAS[ref.kind])


def field_schema(field: Field, types: dict[str, NamedType]) -> dict[str, Any]:
    schema = type_schema(field.type)
    constraints = {
        "minimum": field.minimum,
        "maximum": field.maximum,
        "minLength": field.min_length,
        "maxLength": field.max_length,
        "pattern": field.pattern,
        "minItems": field.min_items,
        "maxItems": field.max_items,
    }
    for key, value in constraints.items():
        if value is not None:
            schema[key] = value
    if field.optional:
        if "$ref" in schema:
            schema = {"anyOf": [{"$ref": schema.pop("$ref")}, {"type": "null"}], **schema}
        else:
            schema["type"] = [schema["type"], "null"]
    if field.default is not MISSING:
        schema["default"] = field.default
    elif field.optional:
        schema["default"] = None
    return schema


def object_schema(
    fields: list[Field], types: dict[str, NamedType], title: str, description: str
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "properties": {f.name: field_schema(f, types) for f in fields},
    }
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def event_schema(event: Event, types: dict[str, NamedType]) -> dict[str, Any]:
    return object_schema(event.fields, types, event.name, event.description)
