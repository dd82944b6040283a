"""Reserved names, per context: each one the generated code would break on is a diagnostic with
file:line:column and a fix; and the reserved lists agree with their sources."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest
from acci import CommandData, DomainEvent
from acci.queries import QueryHandler
from acci_gen import names
from acci_gen.app import load_domains
from acci_gen.emit.python.pytypes import base_type
from acci_gen.errors import Diagnostic, DomainError
from acci_gen.model import SCALARS, TypeRef
from acci_gen.pg_keywords import RESERVED as SQL_RESERVED
from acci_gen.pg_keywords import RESERVED_BY_VERSION
from acci_gen.pg_keywords_capture import QUERY

BASE = """\
domain: {domain}
types:
  Status: {{enum: [open, done{enum_value}]}}
{types}aggregates:
  Cart:
    identity: cart_id
    state: {{cart_id: uuid, status: {{type: Status, default: open}}}}
events:
  CartOpened:
    aggregate: Cart
    fields:
      cart_id: uuid
{event_fields}commands:
  OpenCart:
    aggregate: Cart
    precondition: must_not_exist
    fields: {{cart_id: uuid}}
    emits: CartOpened
projections:
  {projection}:
    key: cart_id
    columns:
      cart_id: uuid
      opened_at: datetime
{columns}    on:
      CartOpened: {{insert: {{cart_id: event.cart_id, opened_at: envelope.timestamp}}}}
queries:
  {query}:
    projection: {projection}
    params:
      limit: {{type: int, default: 10}}
{params}    order_by: [opened_at desc]
    limit: limit
{paginate}scenarios:
  - name: open
    when: {{OpenCart: {{cart_id: 6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f}}}}
    then: [{{CartOpened: {{cart_id: 6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f}}}}]
"""
DEFAULTS = {
    "domain": "shop",
    "enum_value": "",
    "types": "",
    "event_fields": "",
    "projection": "carts",
    "columns": "",
    "query": "recent_carts",
    "params": "",
    "paginate": "    paginate: keyset\n",
}


def check(tmp_path: Path, **parts: str) -> list[Diagnostic]:
    path = tmp_path / "shop.yaml"
    path.write_text(BASE.format(**{**DEFAULTS, **parts}), encoding="utf-8")
    try:
        load_domains([path], tmp_path / "out")
    except DomainError as error:
        return error.diagnostics
    return []


def line_of(tmp_path: Path, text: str) -> int:
    lines = (tmp_path / "shop.yaml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def expect(tmp_path: Path, name: str, found: list[Diagnostic], line_text: str, wrong: list[str]) -> None:
    """One diagnostic names `name`, on the line that has `line_text`, with a fix."""
    about = [d for d in found if f"'{name}'" in d.message]
    if not about or about[0].line != line_of(tmp_path, line_text) or not about[0].fix or about[0].col < 1:
        wrong.append(f"{name}: {[d.render() for d in found]}")
    elif about[0].file != "shop.yaml":
        wrong.append(f"{name}: in {about[0].file}")


def test_the_base_domain_is_valid(tmp_path: Path) -> None:
    assert check(tmp_path) == []


def test_a_column_tenant_id_is_reserved(tmp_path: Path) -> None:
    # The table has a tenant_id column already: the migration would declare it twice.
    found = check(tmp_path, columns="      tenant_id: {type: string, optional: true}\n")
    [diagnostic] = found
    assert diagnostic.render() == (
        f"shop.yaml:{line_of(tmp_path, 'tenant_id: {')}:7: error (at projections.carts.columns.tenant_id): "
        "'tenant_id' is a column every read-model table has already: the tenant of the row.\n"
        "    fix: remove the column (every row keeps its tenant), or rename it, e.g. 'owner_tenant_id'."
    )


def test_a_required_column_tenant_id_is_one_diagnostic(tmp_path: Path) -> None:
    # As a user writes it, required: the insert that gives it no value is not a second problem
    # (its fix, "add tenant_id: event.<field>", would contradict "remove the column").
    found = check(tmp_path, columns="      tenant_id: string\n")
    assert [d.path for d in found] == ["projections.carts.columns.tenant_id"], [d.render() for d in found]


@pytest.mark.parametrize(("name", "keyset"), [("self", False), ("tenant_id", False), ("after", True)])
def test_query_parameters_cannot_take_the_method_arguments(tmp_path: Path, name: str, keyset: bool) -> None:
    # Each would be a duplicate argument of the generated method.
    found = check(
        tmp_path, params=f"      {name}: string\n", paginate="    paginate: keyset\n" if keyset else ""
    )
    [diagnostic] = found
    assert diagnostic.path == f"queries.recent_carts.params.{name}"
    assert diagnostic.line == line_of(tmp_path, f"{name}: string")
    assert f"'{name}' cannot be a query parameter" in diagnostic.message
    assert diagnostic.fix == f"rename the parameter, e.g. '{name}_value'."


def test_after_is_a_parameter_name_where_pages_are_not_keyset(tmp_path: Path) -> None:
    assert check(tmp_path, params="      after: string\n", paginate="") == []


def test_a_query_cannot_take_a_name_the_handler_has(tmp_path: Path) -> None:
    wrong: list[str] = []
    for name in names.QUERY_HANDLER_ATTRIBUTES:
        expect(tmp_path, name, check(tmp_path, query=name), f"  {name}:", wrong)
    assert not wrong, "\n".join(wrong)


def test_an_enum_value_cannot_take_a_name_enum_keeps(tmp_path: Path) -> None:
    assert names.enum_reserved() == {"mro"}
    wrong: list[str] = []
    for name in sorted(names.enum_reserved()):
        expect(tmp_path, name, check(tmp_path, enum_value=f", {name}"), "Status:", wrong)
    assert not wrong, "\n".join(wrong)


def test_a_type_cannot_take_a_name_imported_next_to_it(tmp_path: Path) -> None:
    wrong: list[str] = []
    for name in sorted(names.template_imports()[1]["type"]):
        if name[:1].isupper():
            expect(tmp_path, name, check(tmp_path, types=f"  {name}: {{enum: [a]}}\n"), f"  {name}:", wrong)
    assert not wrong, "\n".join(wrong)


def test_an_event_cannot_take_a_name_imported_next_to_it(tmp_path: Path) -> None:
    wrong: list[str] = []
    for name in sorted(names.template_imports()[1]["event"]):
        if name[:1].isupper():
            event = f"  {name}:\n    aggregate: Cart\n    fields: {{cart_id: uuid}}\n"
            found = [d for d in check(tmp_path, event_fields=event) if "is never emitted" not in d.message]
            expect(tmp_path, name, found, f"  {name}:", wrong)
    assert not wrong, "\n".join(wrong)


def test_generated_class_names_cannot_collide(tmp_path: Path) -> None:
    # The projection carts gives the classes CartsProjection and CartsRow; the domain, ShopQueries.
    found = check(tmp_path, types="  CartsRow: {enum: [a]}\n  ShopQueries: {enum: [b]}\n")
    assert [(d.path, d.line) for d in found] == [
        ("types.CartsRow", line_of(tmp_path, "CartsRow:")),
        ("types.ShopQueries", line_of(tmp_path, "ShopQueries:")),
    ]
    assert all(d.fix for d in found)
    event = "  CartsProjection:\n    aggregate: Cart\n    fields: {cart_id: uuid}\n"
    found = [d for d in check(tmp_path, event_fields=event) if "CartsProjection" in d.message]
    assert [d.path for d in found] == ["events.CartsProjection"]


def test_a_field_cannot_take_a_model_attribute(tmp_path: Path) -> None:
    wrong: list[str] = []
    for name in sorted(names.MODEL_RESERVED):
        field = f"      {name}: {{type: string, optional: true}}\n"
        expect(tmp_path, name, check(tmp_path, event_fields=field), f"      {name}:", wrong)
    assert not wrong, "\n".join(wrong)


def test_a_field_cannot_take_the_name_of_a_type_the_annotations_use(tmp_path: Path) -> None:
    # `str: str | None = None` and then `name: str`: pydantic resolves the annotations in the
    # class's namespace, where `str` is the first field's default now, and the module fails to
    # import. The names come from the emitter: every type a field of the language is declared with.
    kinds = [TypeRef(kind, kind) for kind in SCALARS]
    used = {str(base_type(ref)) for ref in [*kinds, TypeRef("list", "string", TypeRef("string", "string"))]}
    annotation_names = sorted(
        {name.split("[")[0] for name in used if names.SNAKE_RE.match(name.split("[")[0])}
    )
    assert {"str", "int", "bool", "list", "date"} <= set(annotation_names)
    wrong: list[str] = []
    for name in annotation_names:
        field = f"      {name}: {{type: string, optional: true}}\n"
        expect(tmp_path, name, check(tmp_path, event_fields=field), f"      {name}:", wrong)
    assert not wrong, "\n".join(wrong)


def test_a_column_cannot_take_a_postgresql_reserved_word(tmp_path: Path) -> None:
    wrong: list[str] = []
    for name in sorted(SQL_RESERVED - {"date", "datetime"}):
        found = check(tmp_path, columns=f"      {name}: string\n")
        if any(f"'{name}' is a Python keyword" in d.message for d in found):
            continue  # and, or, not... are refused as keywords first
        expect(tmp_path, name, found, f"      {name}: string", wrong)
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow  # checks a domain for each of hundreds of module names
def test_a_domain_cannot_shadow_a_module_it_runs_with(tmp_path: Path) -> None:
    wrong: list[str] = []
    for name in sorted(names.module_reserved()):
        if not names.SNAKE_RE.match(name) or names.snake_problem(name, "domain") is not None:
            continue  # not a possible domain name anyway (CamelCase, a keyword, an SQL word)
        expect(tmp_path, name, check(tmp_path, domain=name), f"domain: {name}", wrong)
    assert not wrong, "\n".join(wrong)
    assert {"pydantic", "psycopg", "psycopg_pool", "pytest", "acci"} <= names.module_reserved()


# -- the lists agree with their sources ---------------------------------------------------------------


def test_the_query_handler_attributes_are_the_runtime_class_s() -> None:
    public = {n for n in dir(QueryHandler) if not n.startswith("_")}
    assert set(names.QUERY_HANDLER_ATTRIBUTES) == public | {"pool"}  # pool: set in __init__


def test_the_runtime_class_variables_are_those_of_the_bases() -> None:
    # pydantic keeps the ClassVars of a model in __class_vars__.
    extra = {n for cls in (DomainEvent, CommandData) for n in cls.__class_vars__ if not n.startswith("_")}
    assert set(names.RUNTIME_CLASS_VARIABLES) == extra


def test_module_names_come_from_python_and_the_imports() -> None:
    assert set(sys.stdlib_module_names) <= names.module_reserved()
    assert {"psycopg", "pydantic", "acci"} <= names.template_imports()[0]


def test_the_reserved_keywords_are_the_server_s(acci_server_url: str) -> None:
    with psycopg.connect(acci_server_url) as conn:
        version = conn.info.server_version // 10000
        words = {row[0] for row in conn.execute(QUERY)}
    assert words <= SQL_RESERVED, f"new reserved words: {sorted(words - SQL_RESERVED)}"
    if version in RESERVED_BY_VERSION:
        assert words == RESERVED_BY_VERSION[version], "run python -m acci_gen.pg_keywords_capture <url>"
