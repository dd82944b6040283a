"""The shipped JSON Schema of the language accepts every valid domain file and rejects shapes the
language does not have. A small validator (the draft 2020-12 keywords the schema uses) keeps
the test free of a jsonschema dependency."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from acci_gen.loader import load_file
from genhelp import ROOT

SCHEMA = json.loads((ROOT / "generator" / "acci_gen" / "schema" / "domain.schema.json").read_text())
VALID = sorted((ROOT / "domains").glob("*.yaml")) + sorted(
    (Path(__file__).parent / "cases").glob("*/domain.yaml")
)

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation of `schema` by `value` (only the keywords domain.schema.json uses)."""
    if "$ref" in schema:
        target: Any = SCHEMA
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return errors(value, target, path)
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_TYPES[k](value) for k in kinds):
            return [f"{path}: {value!r} is not of type {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        found.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and "minimum" in schema and value < schema["minimum"]:
        found.append(f"{path}: {value!r} is below {schema['minimum']}")
    if "oneOf" in schema:
        matches = sum(not errors(value, sub, path) for sub in schema["oneOf"])
        if matches != 1:
            found.append(f"{path}: {value!r} matches {matches} of oneOf")
    if "anyOf" in schema and not any(not errors(value, sub, path) for sub in schema["anyOf"]):
        found.append(f"{path}: {value!r} matches nothing of anyOf")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append(f"{path}: too few items")
        for index, item in enumerate(value):
            if "items" in schema:
                found += errors(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        found += _object_errors(value, schema, path)
    return found


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    found = [f"{path}: '{key}' is required" for key in schema.get("required", []) if key not in value]
    if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", len(value)):
        found.append(f"{path}: wrong number of properties")
    properties = schema.get("properties", {})
    for key, item in value.items():
        if "propertyNames" in schema:
            found += errors(key, schema["propertyNames"], f"{path}.{key} (name)")
        if key in properties:
            found += errors(item, properties[key], f"{path}.{key}")
        elif schema.get("additionalProperties") is False:
            found.append(f"{path}: '{key}' is not allowed")
        elif isinstance(schema.get("additionalProperties"), dict):
            found += errors(item, schema["additionalProperties"], f"{path}.{key}")
    return found


@pytest.mark.parametrize("path", VALID, ids=[f"{p.parent.name}/{p.name}" for p in VALID])
def test_valid_domains_match_the_schema(path: Path) -> None:
    doc, problems = load_file(path)
    assert doc is not None and not problems
    assert errors(doc.data, SCHEMA) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aggregate: {}", "'aggregate' is not allowed"),
        ("domain: Shop", "does not match"),
        ("domain: shop\ncommands: {Open: {aggregate: Cart, emits: X, decide: manual}}", "not one of"),
        (
            "domain: shop\nevents: {Opened: {aggregate: Cart, fields: {id: {typ: uuid}}}}",
            "matches 0 of oneOf",
        ),
        ("domain: shop\nscenarios: [{name: s, when: {A: {}}, then: {errors: x}}]", "matches 0 of oneOf"),
    ],
)
def test_the_schema_rejects_wrong_shapes(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "d.yaml").write_text(text + "\n")
    doc, _ = load_file(tmp_path / "d.yaml")
    assert doc is not None
    assert any(expected in e for e in errors(doc.data, SCHEMA)), errors(doc.data, SCHEMA)


def test_the_reference_documents_every_key() -> None:
    from acci_gen import language as lang

    docs = (ROOT / "docs" / "domain-language.md").read_text()
    groups = [lang.TOP, lang.FIELD, lang.NAMED_TYPE, lang.AGGREGATE, lang.EVENT, lang.COMMAND, lang.RULE]
    groups += [lang.EMIT, lang.PROJECTION, lang.PROJECTION_HANDLER, lang.QUERY, lang.FILTER_OPS]
    groups += [lang.SCENARIO, lang.SCENARIO_METADATA, lang.PRECONDITIONS, lang.RETURNS, lang.APPLY_OPS]
    missing = sorted({key for group in groups for key in group if f"`{key}" not in docs})
    assert missing == []
