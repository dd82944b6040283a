"""Every AsyncAPI document acci-gen writes validates against the official JSON Schema of AsyncAPI
3.0.0 (vendored: tests/contracts/, fetched by requirements/asyncapi_schema.py; no network here),
and holds what that schema cannot say: each `$ref` resolves, each operation's messages are
messages of its channel, each payload is a valid JSON Schema.

The documents: the example domains' contracts (generated/*/asyncapi.yaml), the vendored copies
(domains/contracts/), and the golden cases' contracts and outputs (tests/generator/cases/), which
cover publishing older versions and consuming several. `test_a_broken_document_is_rejected`
shows that each check can fail.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from genhelp import ROOT

SCHEMA_FILE = ROOT / "tests" / "contracts" / "asyncapi-3.0.0.schema.json"
VALIDATOR = jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
DOCUMENTS = sorted(
    {
        *ROOT.glob("generated/*/asyncapi.yaml"),
        *ROOT.glob("domains/contracts/*.yaml"),
        *ROOT.glob("tests/generator/cases/*/contracts/*.yaml"),
        *ROOT.glob("tests/generator/cases/*/expected/*/asyncapi.yaml"),
    }
)


def problems(document: dict[str, Any]) -> list[str]:
    """What is wrong with an AsyncAPI 3 document: the schema's errors, then the rules beside it."""
    found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(document)]
    for where, ref in _refs(document, ()):
        if _resolve(document, ref) is None:
            found.append(f"{where}: $ref {ref} resolves to nothing")
    for name, operation in (document.get("operations") or {}).items():
        channel = operation.get("channel", {}).get("$ref", "")
        for message in operation.get("messages", []):
            # AsyncAPI 3: an operation's messages "MUST be a subset of the messages defined in the
            # channel referenced in this operation".
            if not message.get("$ref", "").startswith(f"{channel}/messages/"):
                found.append(f"operations/{name}: message {message} is not one of {channel}'s")
    for name, schema in (document.get("components", {}).get("schemas") or {}).items():
        for error in jsonschema.Draft7Validator(jsonschema.Draft7Validator.META_SCHEMA).iter_errors(schema):
            found.append(f"components/schemas/{name}: {error.message}")
    return found


def _refs(node: Any, path: tuple[str, ...]) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        found = [("/".join(path), node["$ref"])] if isinstance(node.get("$ref"), str) else []
        for key, value in node.items():
            found.extend(_refs(value, (*path, str(key))))
        return found
    if isinstance(node, list):
        return [ref for i, value in enumerate(node) for ref in _refs(value, (*path, str(i)))]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        return None  # acci-gen writes self-contained documents
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_the_vendored_schema_is_the_pinned_one() -> None:
    script = (ROOT / "requirements" / "asyncapi_schema.py").read_text(encoding="utf-8")
    pinned = re.search(r'^SHA256 = "([0-9a-f]{64})"$', script, re.MULTILINE)
    assert pinned is not None
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == pinned.group(1)
    jsonschema.Draft7Validator.check_schema(VALIDATOR.schema)


def test_there_are_documents_of_each_kind() -> None:
    names = {path.relative_to(ROOT).parts[0] for path in DOCUMENTS}
    assert names == {"generated", "domains", "tests"}
    operations = [op["action"] for path in DOCUMENTS for op in load(path).get("operations", {}).values()]
    assert "send" in operations and "receive" in operations


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_document_is_valid_asyncapi_3(path: Path) -> None:
    assert problems(load(path)) == []


def _broken(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mistakes an emitter could make, each on a copy of a valid document."""
    cases: dict[str, dict[str, Any]] = {}

    def case(name: str) -> dict[str, Any]:
        cases[name] = copy.deepcopy(document)
        return cases[name]

    operation = next(iter(case("AsyncAPI 2's action word")["operations"].values()))
    operation["action"] = "publish"
    case("a version that is no AsyncAPI 3")["asyncapi"] = "2.6.0"
    del case("no info")["info"]
    channel = next(iter(case("an unknown channel key")["channels"].values()))
    channel["subject"] = channel["address"]
    message = next(iter(case("a message whose headers are no schema")["components"]["messages"].values()))
    message["headers"] = "Envelope"
    case("an extension not named x-")["components"]["messages"] = {
        name: {**m, "acci-fields": {}} for name, m in document["components"]["messages"].items()
    }
    operation = next(iter(case("a dangling $ref")["operations"].values()))
    operation["channel"] = {"$ref": "#/channels/Nowhere"}
    wrong = case("an operation with another channel's message")
    first, *_ = wrong["operations"].values()
    first["messages"] = [{"$ref": "#/channels/Elsewhere/messages/X"}]
    wrong["channels"]["Elsewhere"] = {"address": "x", "messages": {"X": {"$ref": "#/components/messages/X"}}}
    wrong["components"]["messages"]["X"] = {"payload": {"type": "object"}}
    schema = next(iter(case("a payload that is no JSON Schema")["components"]["schemas"].values()))
    schema["required"] = "order_id"
    return cases


@pytest.mark.parametrize("name", list(_broken(load(ROOT / "generated" / "ordering" / "asyncapi.yaml"))))
def test_a_broken_document_is_rejected(name: str) -> None:
    document = load(ROOT / "generated" / "ordering" / "asyncapi.yaml")
    assert problems(document) == []
    assert problems(_broken(document)[name]) != []
