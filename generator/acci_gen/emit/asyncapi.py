"""`<domain>/asyncapi.yaml`: the domain's integration contract as an AsyncAPI 3 document: a
channel per public event (`<domain>.{tenant}.<EventType>`), a message with its JSON Schema per
public version, the envelope headers, and the operations (send what it publishes, receive what
it consumes).

Each message also carries its shape as the lock file records it (`x-acci-fields`, with the names
of its public enums and objects): a consuming service vendors this file and acci-gen generates its
classes from that (acci_gen.spec.contract). Public enums and objects are schemas of their own
under components/schemas, referenced from the payloads.
"""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from acci_gen.emit.docs.jsonschema import field_schema
from acci_gen.emit.text import Code
from acci_gen.model import Domain, Field, NamedType
from acci_gen.spec.checks.integration import consumed_class, public_class
from acci_gen.spec.contract import CONSUMED_KEY, DOMAIN_KEY, FIELDS_KEY, TYPE_KEY, VERSION_KEY
from acci_gen.spec.lock import shape

#: The envelope every message carries (acci.integration.envelope), as header schemas.
_TEXT: dict[str, Any] = {"type": "string"}
_NUMBER: dict[str, Any] = {"type": "string", "pattern": "^[0-9]+$"}
_UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
_HEADERS: dict[str, tuple[dict[str, Any], str]] = {
    "Nats-Msg-Id": (_UUID, "The event id: JetStream's deduplication key."),
    "Acci-Event-Id": (_UUID, "The event id."),
    "Acci-Event-Type": (_TEXT, "The public event type."),
    "Acci-Schema-Version": (_NUMBER, "The public version."),
    "Acci-Tenant-Id": (_TEXT, "The tenant."),
    "Acci-Domain": (_TEXT, "The publishing domain."),
    "Acci-Aggregate-Type": (_TEXT, "The stream of origin's aggregate type."),
    "Acci-Aggregate-Id": (_TEXT, "The stream of origin's id."),
    "Acci-Aggregate-Version": (_NUMBER, "The event's version in its stream."),
    "Acci-Occurred-At": ({"type": "string", "format": "date-time"}, "When the event was stored."),
    "Acci-Correlation-Id": (_TEXT, "The correlation id of the command that stored it."),
    "Acci-Causation-Id": (_TEXT, "What caused it, when known."),
    "Acci-User-Id": (_TEXT, "Who caused it, when known."),
    "traceparent": (_TEXT, "W3C trace context, when tracing is on."),
    "tracestate": (_TEXT, "W3C trace state, when tracing is on."),
}
_REQUIRED_HEADERS = [
    "Nats-Msg-Id",
    "Acci-Event-Id",
    "Acci-Event-Type",
    "Acci-Schema-Version",
    "Acci-Tenant-Id",
    "Acci-Domain",
    "Acci-Aggregate-Type",
    "Acci-Aggregate-Id",
    "Acci-Aggregate-Version",
]
_TENANT = "The tenant id, each character outside [A-Za-z0-9_-] written %XX (UTF-8, hex)."


def render_asyncapi(domain: Domain, header: Code) -> str:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    public_types = {t.name: t for t in domain.public_types}
    for named in domain.public_types:
        schemas[named.name] = _type_schema(named)
    for public in domain.integration_events:
        refs = []
        for version in public.all_versions():
            key = public_class(public.name, version.version)
            schemas[key] = payload_schema(
                version.fields, f"{public.name} v{version.version}", version.description
            )
            messages[key] = _message(
                public.name, version.version, key, version.fields, version.description, public_types
            )
            refs.append(key)
        channel = public.name
        channels[channel] = _channel(domain.name, public.name, refs, public.description)
        current = public_class(public.name, public.version)
        operations[f"publish{public.name}"] = {
            "action": "send",
            "summary": f"The relay publishes {public.event} as {public.name} v{public.version}.",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{current}"}],
        }
    for consumption in domain.consumes:
        consumed_types = {t.name: t for t in consumption.types}
        for named in consumption.types:
            schemas[named.name] = _type_schema(named)
        for consumed in consumption.events:
            key = consumed_class(consumption.domain, consumed.name, consumed.version)
            title = f"{consumption.domain} {consumed.name} v{consumed.version}"
            schemas[key] = payload_schema(consumed.fields, title, "")
            message = _message(consumed.name, consumed.version, key, consumed.fields, "", consumed_types)
            message[CONSUMED_KEY] = consumption.domain
            messages[key] = message
            channel = f"{consumption.domain}_{consumed.name}"
            # One channel per consumed type, with a message per version reacted to (a consumer
            # migrating with its publisher reacts to v1 and v2 of one subject).
            refs = [*channels[channel]["messages"], key] if channel in channels else [key]
            channels[channel] = _channel(consumption.domain, consumed.name, refs, "")
            operations[f"consume{key}"] = {
                "action": "receive",
                "summary": f"Each message becomes the command {consumed.command}.",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{key}"}],
            }
    versions = sum(len(p.all_versions()) for p in domain.integration_events)
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{domain.name} integration events",
            # The number of public versions declared: it grows with each one released.
            "version": f"{versions}.0.0",
            "description": _about(domain),
            DOMAIN_KEY: domain.name,
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {**schemas, "Envelope": _envelope()},
            "parameters": {"tenant": {"description": _TENANT}},
        },
    }
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    return f"{header}\n{body}"


def _about(domain: Domain) -> str:
    parts = []
    if domain.integration_events:
        parts.append(
            f"What the {domain.name} domain publishes to NATS JetStream (stream "
            f"ACCI_{domain.name.upper()}, subjects {domain.name}.<tenant>.<EventType>)."
        )
    if domain.consumes:
        publishers = ", ".join(c.domain for c in domain.consumes)
        parts.append(f"What the {domain.name} domain consumes from {publishers}.")
    parts.append("Generated by acci-gen from the domain file; a consuming service vendors this file.")
    return " ".join(parts)


def _channel(publisher: str, name: str, refs: list[str], description: str) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": f"{publisher}.{{tenant}}.{name}",
        "title": f"{publisher} {name}",
        "messages": {ref: {"$ref": f"#/components/messages/{ref}"} for ref in refs},
        "parameters": {"tenant": {"$ref": "#/components/parameters/tenant"}},
    }
    if description:
        channel["description"] = description
    return channel


def _message(
    name: str, version: int, key: str, fields: list[Field], description: str, types: dict[str, NamedType]
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "title": f"{name} v{version}",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/Envelope"},
        "payload": {"$ref": f"#/components/schemas/{key}"},
    }
    if description:
        message["description"] = description
    message[TYPE_KEY] = name
    message[VERSION_KEY] = version
    message[FIELDS_KEY] = shape(fields, types, named=True)
    return message


def payload_schema(fields: list[Field], title: str, description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "title": title,
        "type": "object",
        # Consumers ignore fields they do not know: a version may gain optional ones.
        "additionalProperties": True,
        "properties": {f.name: _field(f) for f in fields},
    }
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _type_schema(named: NamedType) -> dict[str, Any]:
    """A public enum (its values: consumers validate them) or object (it may gain optional fields)."""
    if named.is_enum:
        schema: dict[str, Any] = {"title": named.name, "type": "string", "enum": list(named.values or [])}
        if named.description:
            schema["description"] = named.description
        return schema
    return payload_schema(named.fields, named.name, named.description)


def _field(field: Field) -> dict[str, Any]:
    schema: dict[str, Any] = _components(field_schema(field, {}))
    if field.type.kind == "decimal":  # pydantic writes a Decimal as a JSON string
        for key in ("minimum", "maximum"):
            schema.pop(key, None)
        kinds: Any = ["string", "null"] if field.optional else "string"
        schema["type"] = kinds
        if "default" in schema and schema["default"] is not None:
            schema["default"] = str(schema["default"])
    return schema


def _components(schema: Any) -> Any:
    """The schema with its references to named types pointing into components/schemas."""
    if isinstance(schema, dict):
        return {
            k: v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _components(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_components(item) for item in schema]
    return schema


def _envelope() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {**kind, "description": text} for name, (kind, text) in _HEADERS.items()},
        "required": list(_REQUIRED_HEADERS),
    }
