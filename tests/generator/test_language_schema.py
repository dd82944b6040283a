"""The language is defined once (acci_gen.spec.language); the JSON Schema shipped for editors is
generated from it. Checked here with the `jsonschema` library: the schema accepts every valid
domain file of the repository and every YAML example of docs/domain-language.md, rejects the
shapes acci-gen rejects, and the reference documents every key."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any, get_args, get_origin

import jsonschema
import pytest
from acci_gen.spec import language as lang
from acci_gen.spec.loader import load_file, load_text
from acci_gen.spec.schema import json_schema
from acci_gen.spec.shape import check_shape
from genhelp import ROOT
from pydantic import BaseModel

GENERATOR_TESTS = Path(__file__).parent
SCHEMA = json.loads((ROOT / "generator" / "acci_gen" / "schema" / "domain.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DOCS = ROOT / "docs" / "domain-language.md"

#: Every domain file that is valid today (the language's public interface).
VALID = [
    *sorted((ROOT / "domains").glob("*.yaml")),
    ROOT / "templates" / "service" / "domains" / "notes.yaml",
    *sorted((GENERATOR_TESTS / "cases").glob("*/domain.yaml")),
    GENERATOR_TESTS / "evolution" / "base.yaml",
    *sorted((GENERATOR_TESTS / "readmodel" / "cases").glob("*/*.yaml")),
]
#: Files whose shape is right though their meaning is not (the evolution corpus).
SHAPED = sorted(
    p for p in (GENERATOR_TESTS / "evolution" / "cases").glob("*.yaml") if p.stem != "unknown_step"
)


def test_the_shipped_schema_is_the_models_schema() -> None:
    assert json_schema() == SCHEMA
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", VALID + SHAPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_valid_domains_match_the_schema(path: Path) -> None:
    doc, problems = load_file(path)
    assert doc is not None and not problems
    assert [e.message for e in VALIDATOR.iter_errors(doc.data)] == []


def yaml_examples() -> list[tuple[int, str]]:
    """The YAML blocks of the language reference, with their line numbers."""
    text = DOCS.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 2, textwrap.dedent(m.group(1)))
        for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.M | re.S)
    ]


def as_domain(example: dict[str, Any]) -> dict[str, Any]:
    """An example of a part of a file, placed into a whole file."""
    if set(example) <= set(lang.Domain.model_fields):
        return {"domain": "example", **example}
    if set(example) == {"fields"}:
        return {"domain": "example", "types": {"Example": example}}
    raise AssertionError(f"the test does not know where this example belongs: {sorted(example)}")


@pytest.mark.parametrize(
    ("line", "text"), yaml_examples(), ids=lambda v: f"line {v}" if isinstance(v, int) else ""
)
def test_every_example_of_the_reference_matches_the_schema(line: int, text: str) -> None:
    doc, problems = load_text(text, f"docs/domain-language.md:{line}")
    assert doc is not None and not problems, problems
    if doc.data is None:  # a comment only
        return
    data = as_domain(doc.data)
    assert [e.message for e in VALIDATOR.iter_errors(data)] == []
    doc.data = data
    assert check_shape(doc).diagnostics == []  # and acci-gen reads it the same way


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aggregate: {}", "'domain' is a required property"),
        ("domain: Shop", "does not match"),
        ("domain: shop\ncommands: {Open: {aggregate: Cart, emits: X, decide: manual}}", "is not one of"),
        (
            "domain: shop\nevents: {Opened: {aggregate: Cart, fields: {id: {typ: uuid}}}}",
            "is not valid under",
        ),
        ("domain: shop\nscenarios: [{name: s, when: {A: {}}, then: {errors: x}}]", "is not valid under"),
        (
            "domain: shop\nprojections: {p: {key: id, columns: {}, on: {E: {insert: {}, delete: true}}}}",
            "is not valid",
        ),
        ("domain: shop\nqueries: {q: {projection: p, filter: [{name: {contain: q}}]}}", "is not one of"),
        (
            "domain: shop\nevents: {E: {aggregate: A, versions: {1: {upcast: [{rename_field: {}}]}}}}",
            "is not valid under",
        ),
    ],
)
def test_the_schema_rejects_what_acci_gen_rejects(text: str, expected: str) -> None:
    doc, _ = load_text(text + "\n", "d.yaml")
    assert doc is not None
    messages = [e.message for e in every_error(VALIDATOR.iter_errors(doc.data))]
    assert any(expected in m for m in messages), messages
    names_checked_later = text == "domain: Shop"  # names are checked with a suggestion, not by shape
    assert bool(check_shape(doc).diagnostics) != names_checked_later


def every_error(errors: Any) -> list[jsonschema.ValidationError]:
    """The errors and, for unions, the errors of each alternative."""
    found = []
    for error in errors:
        found.append(error)
        found += every_error(error.context or [])
    return found


def keys_of_the_language() -> set[str]:
    """Every key a domain file can contain: the fields of every model of the language."""
    found: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.add(tp)
            for name, info in tp.model_fields.items():
                found.add(name)
                visit(info.annotation)
            return
        for arg in get_args(tp):
            visit(arg)
        if get_origin(tp) is None and hasattr(tp, "__origin__"):
            visit(tp.__origin__)

    visit(lang.Domain)
    return found


def test_the_reference_documents_every_key() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    keys = keys_of_the_language()
    assert {"domain", "insert", "paginate", "separator", "correlation_id", "any"} <= keys
    missing = sorted(key for key in keys if f"`{key}" not in docs)
    assert missing == []
