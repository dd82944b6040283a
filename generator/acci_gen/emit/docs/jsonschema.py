"""Compiles a domain's types and events into one JSON Schema, the input of datamodel-code-generator."""

from __future__ import annotations

from typing import Any

from acci_gen.model import MISSING, Domain, Event, Field, NamedType, TypeRef
from acci_gen.values import EMAIL_PATTERN

#: The title of the schema's root object; its class is removed from the generated module.
ROOT_TITLE = "AcciDomainRoot"

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
    schema = object_schema(event.fields, types, event.name, event.description)
    schema["customBasePath"] = "acci.DomainEvent"
    return schema


def domain_schema(domain: Domain) -> dict[str, Any]:
    """One schema with every named type and event under $defs, in the order of the domain file."""
    types = {t.name: t for t in domain.types}
    defs: dict[str, Any] = {}
    for named in domain.types:
        if named.is_enum:
            defs[named.name] = {"title": named.name, "type": "string", "enum": list(named.values or [])}
            if named.description:
                defs[named.name]["description"] = named.description
        else:
            defs[named.name] = object_schema(named.fields, types, named.name, named.description)
    for event in domain.events:
        defs[event.name] = event_schema(event, types)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": ROOT_TITLE,
        "type": "object",
        "additionalProperties": False,
        "properties": {},
        "$defs": defs,
    }
