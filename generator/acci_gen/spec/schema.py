"""The JSON Schema of the domain language, for editors: `Domain.model_json_schema()` of the
language's models, shipped at `acci_gen/schema/domain.schema.json` (a test compares the two)."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from acci_gen.spec.language import Domain

SCHEMA_ID = "https://acci.dev/schema/domain.schema.json"


class _EditorSchema(GenerateJsonSchema):
    """pydantic's schema with two changes for editors: no per-key titles (the descriptions say
    more), and a mapping's name pattern as `propertyNames`, which constrains every key, instead of
    `patternProperties`, which would leave keys that do not match it unchecked."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        result = super().dict_schema(schema)
        patterns = result.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            result["propertyNames"] = {"pattern": pattern}
            result["additionalProperties"] = values
        return result


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a domain file."""
    body = Domain.model_json_schema(schema_generator=_EditorSchema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **body,
        "title": "ACCI domain",
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"
