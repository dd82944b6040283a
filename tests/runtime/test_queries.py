"""acci.queries: one statement per combination of optional filters, derived placeholders,
validated parameters."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pytest
from acci import InvalidQuery
from acci.queries import Query, all_of, any_of, check_parameters, escape_like
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[2]


class Colour(StrEnum):
    red = "red"


class Params(BaseModel):
    a: int | None = None
    b: str | None = None
    colour: Colour | None = None
    limit: int = Field(default=10, ge=1)


class Row(BaseModel):
    tenant_id: str


QUERY = Query(
    "things",
    Params,
    Row,
    "SELECT tenant_id FROM public.things",
    where=[
        "tenant_id = %(tenant_id)s",
        "a = %(a)s",
        any_of("name ILIKE %(contains:b)s", all_of("x = %(a)s", "colour = %(colour)s")),
        "(at, id) > (%(after:at)s, %(after:id)s)",
    ],
    tail="LIMIT %(limit)s",
)


def statement(**values: object) -> str:
    parameters = Params.model_validate(values)
    return QUERY.statement(QUERY.values("t1", parameters, None))


def test_a_parameter_left_out_leaves_its_condition_out() -> None:
    assert (
        statement() == "SELECT tenant_id FROM public.things WHERE tenant_id = %(tenant_id)s LIMIT %(limit)s"
    )
    assert statement(a=1) == (
        "SELECT tenant_id FROM public.things WHERE tenant_id = %(tenant_id)s AND a = %(a)s LIMIT %(limit)s"
    )


def test_a_group_goes_when_one_of_its_alternatives_holds_anyway() -> None:
    # b missing: "name ILIKE ..." holds for every row, and so does the OR.
    assert "ILIKE" not in statement(a=1, colour="red")
    # b given, colour missing: the AND inside keeps its other condition.
    assert statement(a=1, b="x") == (
        "SELECT tenant_id FROM public.things WHERE tenant_id = %(tenant_id)s AND a = %(a)s"
        " AND (name ILIKE %(contains:b)s OR (x = %(a)s)) LIMIT %(limit)s"
    )


def test_each_combination_is_one_statement_and_none_tests_for_null() -> None:
    combinations: list[dict[str, object]] = [
        {},
        {"a": 1},
        {"b": "x", "colour": "red"},
        {"a": 1, "b": "x"},
        {"a": 1, "b": "x", "colour": "red"},
    ]
    texts = {statement(**values) for values in combinations}
    assert len(texts) == len(combinations)
    assert not any("IS NULL" in text for text in texts)
    assert statement(a=1) is statement(a=2)  # built once per combination


def test_derived_placeholders() -> None:
    class After(BaseModel):
        at: int
        id: int

    values = QUERY.values("t1", Params(b="100%_\\", colour=Colour.red), After(at=5, id=7))
    assert values["contains:b"] == "%100\\%\\_\\\\%"
    assert values["colour"] == "red"  # an enum goes as its text
    assert (values["after:at"], values["after:id"]) == (5, 7)
    assert "(at, id) > (%(after:at)s, %(after:id)s)" in QUERY.statement(values)


def test_bad_parameters_name_every_problem() -> None:
    with pytest.raises(
        InvalidQuery, match=r"query things is invalid: a: Input should be a valid integer.*; limit"
    ):
        check_parameters(Params, "things", {"a": "x", "limit": 0})


def test_escape_like() -> None:
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_no_generated_query_tests_a_parameter_for_null() -> None:
    for path in [
        *ROOT.glob("generated/*/queries.py"),
        *ROOT.glob("tests/generator/cases/*/expected/*/queries.py"),
    ]:
        assert "IS NULL" not in path.read_text(), path
