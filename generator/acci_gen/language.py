"""The domain language: its keys, and its JSON Schema for editors.

The validator reads the key sets below, and `json_schema()` builds the schema shipped at
`acci_gen/schema/domain.schema.json` from the same sets, so the two cannot drift apart (a test
compares the shipped file with `json_schema()`).
"""

from __future__ import annotations

import json
from typing import Any

from acci_gen.model import SCALARS

SCHEMA_ID = "https://acci.dev/schema/domain.schema.json"

TOP = (
    "domain",
    "description",
    "compatibility",
    "types",
    "aggregates",
    "events",
    "commands",
    "projections",
    "queries",
    "scenarios",
)
FIELD = (
    "type",
    "description",
    "optional",
    "default",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "min_items",
    "max_items",
    "example",
)
NAMED_TYPE = ("description", "enum", "fields")
AGGREGATE = ("description", "identity", "state", "snapshot_every")
EVENT = ("description", "aggregate", "version", "fields", "apply", "versions")
COMMAND = ("description", "aggregate", "fields", "precondition", "requires", "emits", "decide")
RULE = ("condition", "code", "message")
EMIT = ("event", "map")
APPLY_OPS = ("value", "add", "subtract", "append")
LITERAL = ("value",)
PROJECTION = ("description", "table", "key", "columns", "on", "inline")
PROJECTION_ACTIONS = ("insert", "upsert", "update", "delete", "custom")
PROJECTION_HANDLER = (*PROJECTION_ACTIONS, "key")
QUERY = (
    "description",
    "projection",
    "params",
    "filter",
    "order_by",
    "limit",
    "offset",
    "returns",
    "paginate",
)
FILTER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "like", "ilike", "contains")
SCENARIO = ("name", "description", "given", "when", "metadata", "then")
SCENARIO_METADATA = ("user_id", "tenant_id", "correlation_id", "timestamp")
THEN_ERROR = ("error",)
PRECONDITIONS = ("none", "must_exist", "must_not_exist")
DECIDE = ("mapped", "custom")
RETURNS = ("one", "many")
METADATA_FIELDS = {
    "user_id": "string",
    "tenant_id": "string",
    "correlation_id": "string",
    "timestamp": "datetime",
    "command_id": "uuid",
}
ENVELOPE_FIELDS = {
    "timestamp": "datetime",
    "aggregate_id": "string",
    "version": "int",
    "event_id": "uuid",
    "user_id": "string",
    "tenant_id": "string",
}
BUILTIN_ERRORS = ("already_exists", "not_found", "invalid")

PASCAL = r"^[A-Z][A-Za-z0-9]*$"
SNAKE = r"^[a-z][a-z0-9_]*$"


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def _map_of(value: dict[str, Any], pattern: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "propertyNames": {"pattern": pattern},
        "additionalProperties": value,
    }


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a domain file."""
    ref = "#/$defs/"
    expr = {
        "description": "A reference (command.x, state.x, metadata.x, event.x, envelope.x) or {value: x}.",
        "oneOf": [
            {"type": "string", "pattern": r"^(command|state|metadata|event|envelope)\.[a-z][a-z0-9_]*$"},
            _obj({"value": {"description": "A literal value."}}, ("value",)),
        ],
    }
    type_text = {
        "type": "string",
        "description": "A scalar (" + ", ".join(SCALARS) + "), a name from `types:`, or list[<type>].",
        "anyOf": [
            {"enum": list(SCALARS)},
            {"pattern": r"^(list\[[A-Za-z][A-Za-z0-9_]*\]|[A-Z][A-Za-z0-9]*)$"},
        ],
    }
    field_props: dict[str, Any] = {
        "type": type_text,
        "description": _text("What the field means."),
        "optional": {"type": "boolean", "description": "The field may be absent (None)."},
        "default": {"description": "The value when the field is absent."},
        "min": {"type": "number", "description": "Smallest allowed value (int, decimal)."},
        "max": {"type": "number", "description": "Largest allowed value (int, decimal)."},
        "min_length": {"type": "integer", "minimum": 0, "description": "Shortest allowed text."},
        "max_length": {"type": "integer", "minimum": 0, "description": "Longest allowed text."},
        "pattern": _text("A regular expression the text must match (needs `example:`)."),
        "min_items": {"type": "integer", "minimum": 0, "description": "Fewest list items."},
        "max_items": {"type": "integer", "minimum": 0, "description": "Most list items."},
        "example": {"description": "A valid sample value, used by the generated tests."},
    }
    assert tuple(field_props) == FIELD
    field_spec = {"oneOf": [type_text, _obj(field_props, ("type",))]}
    fields = _map_of({"$ref": ref + "field"}, SNAKE, "Fields by name (snake_case).")
    defs: dict[str, Any] = {
        "field": field_spec,
        "fields": fields,
        "expr": expr,
        "named_type": _obj(
            {
                "description": _text("What the type means."),
                "enum": {"type": "array", "items": {"type": "string", "pattern": SNAKE}, "minItems": 1},
                "fields": {"$ref": ref + "fields"},
            },
            description="An enum (enum: [values]) or a nested object (fields: {...}).",
        ),
        "aggregate": _obj(
            {
                "description": _text("What the aggregate is."),
                "identity": _text("The state field that identifies an instance; commands carry it."),
                "state": {"$ref": ref + "fields"},
                "snapshot_every": {"type": "integer", "minimum": 1, "description": "Snapshot interval."},
            },
            ("identity", "state"),
        ),
        "event": _obj(
            {
                "description": _text("What happened."),
                "aggregate": _text("The aggregate whose stream the event belongs to."),
                "version": {"type": "integer", "minimum": 1, "description": "Schema version (default 1)."},
                "fields": {"$ref": ref + "fields"},
                "apply": _map_of(
                    {
                        "oneOf": [
                            {"type": "string", "pattern": r"^event\.[a-z][a-z0-9_]*$"},
                            _obj({"value": {}}, ("value",)),
                            _obj({"add": {"type": "string"}}, ("add",)),
                            _obj({"subtract": {"type": "string"}}, ("subtract",)),
                            _obj({"append": {"type": "string"}}, ("append",)),
                        ]
                    },
                    SNAKE,
                    "State field: how the event changes it. Absent: same-named fields are copied.",
                ),
                "versions": {
                    "type": "object",
                    "description": "Older schema versions by number: their fields and the upcast steps "
                    "that turn each into the next version.",
                    "propertyNames": {"pattern": r"^[1-9][0-9]*$"},
                    "additionalProperties": {"$ref": ref + "old_version"},
                },
            },
            ("aggregate",),
        ),
        "old_version": _obj(
            {
                "description": _text("What changed in the next version."),
                "fields": {"$ref": ref + "fields"},
                "upcast": {
                    "type": "array",
                    "description": "Steps from this version to the next, in order.",
                    "items": {
                        "oneOf": [
                            _obj({"add": {"type": "object"}}, ("add",)),
                            _obj({"rename": {"type": "object"}}, ("rename",)),
                            _obj({"remove": {"type": "array", "items": {"type": "string"}}}, ("remove",)),
                            _obj({"map": {"type": "object"}}, ("map",)),
                            _obj({"split": {"type": "object"}}, ("split",)),
                            _obj({"combine": {"type": "object"}}, ("combine",)),
                        ]
                    },
                },
                "custom": {"type": "boolean", "description": "Then a hand-written upcaster (stubbed once)."},
                "example": {
                    "type": "object",
                    "description": "A sample payload of this version for the tests.",
                },
                "expected": {
                    "type": "object",
                    "description": "What the example reads as in the current version.",
                },
            },
            ("fields",),
        ),
        "rule": _obj(
            {
                "condition": _text("<ref> <op> <ref or literal>, e.g. state.balance >= command.amount"),
                "code": {"type": "string", "pattern": SNAKE, "description": "The rejection code."},
                "message": _text("The rule in words, shown to the sender."),
            },
            ("condition", "code"),
        ),
        "emit": {
            "oneOf": [
                {"type": "string", "pattern": PASCAL},
                _obj(
                    {
                        "event": {"type": "string", "pattern": PASCAL},
                        "map": _map_of(
                            {"$ref": ref + "expr"}, SNAKE, "Event field: where its value comes from."
                        ),
                    },
                    ("event",),
                ),
            ]
        },
        "command": _obj(
            {
                "description": _text("What the sender wants."),
                "aggregate": _text("The aggregate the command is for."),
                "fields": {"$ref": ref + "fields"},
                "precondition": {
                    "enum": list(PRECONDITIONS),
                    "description": "What must hold of the aggregate.",
                },
                "requires": {"type": "array", "items": {"$ref": ref + "rule"}},
                "emits": {
                    "oneOf": [
                        {"type": "string", "pattern": PASCAL},
                        {"type": "array", "items": {"$ref": ref + "emit"}, "minItems": 1},
                    ]
                },
                "decide": {"enum": list(DECIDE), "description": "custom: a hand-written decision function."},
            },
            ("aggregate", "emits"),
        ),
        "projection": _obj(
            {
                "description": _text("What the read model shows."),
                "inline": {
                    "type": "boolean",
                    "description": "Update it in the append's own transaction (read-your-writes) "
                    "instead of by a projection runner.",
                },
                "table": {"type": "string", "pattern": SNAKE},
                "key": {"type": "string", "pattern": SNAKE},
                "columns": {"$ref": ref + "fields"},
                "on": _map_of(
                    _obj(
                        {
                            "insert": _map_of({"$ref": ref + "expr"}, SNAKE, "Column values."),
                            "upsert": _map_of({"$ref": ref + "expr"}, SNAKE, "Column values."),
                            "update": _map_of({"$ref": ref + "expr"}, SNAKE, "Column values."),
                            "delete": {"type": "boolean"},
                            "custom": {
                                "type": "boolean",
                                "description": "A hand-written handler in custom/projections.py "
                                "(stubbed once).",
                            },
                            "key": {"type": "string", "description": "The key value, e.g. event.user_id."},
                        }
                    ),
                    PASCAL,
                    "Event: how it changes the table.",
                ),
            },
            ("key", "columns", "on"),
        ),
        "filter": {
            "type": "object",
            "description": "{column: {op: param}} or {any: [filters]} (OR).",
            "properties": {"any": {"type": "array", "items": {"$ref": ref + "filter"}}},
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"enum": list(FILTER_OPS)},
                "additionalProperties": {"type": "string"},
            },
        },
        "query": _obj(
            {
                "description": _text("What the query answers."),
                "projection": _text("The projection it reads."),
                "params": {"$ref": ref + "fields"},
                "filter": {"type": "array", "items": {"$ref": ref + "filter"}},
                "order_by": {
                    "type": "array",
                    "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*( (asc|desc))?$"},
                },
                "limit": {"type": ["string", "integer"]},
                "offset": {"type": ["string", "integer"]},
                "returns": {"enum": list(RETURNS)},
                "paginate": {
                    "enum": ["keyset"],
                    "description": "keyset: the method takes `after` (the last row of the previous page) "
                    "instead of an offset; fast on large tables.",
                },
            },
            ("projection",),
        ),
        "event_instance": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "description": "{EventName: {field: value}}",
            "propertyNames": {"pattern": PASCAL},
            "additionalProperties": {"type": ["object", "null"]},
        },
        "scenario": _obj(
            {
                "name": {"type": "string", "pattern": SNAKE},
                "description": _text("What the scenario shows."),
                "given": {"type": "array", "items": {"$ref": ref + "event_instance"}},
                "when": {"$ref": ref + "event_instance"},
                "metadata": _obj({k: {"type": "string"} for k in SCENARIO_METADATA}),
                "then": {
                    "oneOf": [
                        {"type": "array", "items": {"$ref": ref + "event_instance"}},
                        _obj({"error": {"type": "string"}}, ("error",)),
                    ]
                },
            },
            ("name", "when", "then"),
        ),
    }
    top = {
        "domain": {"type": "string", "pattern": SNAKE, "description": "The package name of the domain."},
        "description": _text("What the bounded context is about."),
        "compatibility": {
            "enum": ["backward_transitive", "backward", "none"],
            "description": "Which older event versions must stay readable as the current class "
            "(default backward_transitive: all of them).",
        },
        "types": _map_of({"$ref": ref + "named_type"}, PASCAL, "Enums and nested objects."),
        "aggregates": _map_of({"$ref": ref + "aggregate"}, PASCAL, "Aggregates by name."),
        "events": _map_of({"$ref": ref + "event"}, PASCAL, "Events by name (past tense)."),
        "commands": _map_of({"$ref": ref + "command"}, PASCAL, "Commands by name (imperative)."),
        "projections": _map_of({"$ref": ref + "projection"}, SNAKE, "Read models by name."),
        "queries": _map_of({"$ref": ref + "query"}, SNAKE, "Queries by name."),
        "scenarios": {"type": "array", "items": {"$ref": ref + "scenario"}},
    }
    assert tuple(top) == TOP
    schema = _obj(top, ("domain",), "An ACCI domain: a bounded context for acci-gen.")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ACCI domain",
        **schema,
        "$defs": defs,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
