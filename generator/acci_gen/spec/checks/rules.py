"""Rules of commands: `<side> <op> <side>` where a side is a reference, an arithmetic expression
(`state.balance + state.overdraft`, `len(state.lines)`) or a literal, and `<side> in <list>` /
`<side> not in <list>` where the list is a list field or a literal list (`[eur, usd]`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from acci_gen.model import NUMERIC, Expr, Field, Rule, TypeRef
from acci_gen.names import snake_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, Scopes, compatible, is_ref, literal_problem
from acci_gen.spec.checks.expressions import is_expression, parse_expression
from acci_gen.spec.loader import PathT, load_text
from acci_gen.spec.values import UNCHECKED, fits

_COMPARE = re.compile(r"^\s*(.+?)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_MEMBER = re.compile(r"^\s*(.+?)\s+(not in|not_in|in)\s+(.+?)\s*$")
_HAS_REF = re.compile(r"[a-z][a-z0-9_]*\.[A-Za-z_]|\blen\s*\(")
_SOURCE = re.compile(r"\b([a-z][a-z0-9_]*)\.[A-Za-z_]")
OPS = "== != < <= > >= in not_in"

#: Reports a side that reads a source not in scope yet (the state of a command that may create
#: its aggregate); returns whether it did.
Guard = Callable[[str, PathT], bool]


def parse_rule(
    ctx: Context, rule: lang.Rule, path: PathT, scopes: Scopes, command: str, guard: Guard
) -> Rule | None:
    code = rule.code
    if snake_problem(code, "code"):
        ctx.error(
            (*path, "code"),
            f"the code {code!r} must be a snake_case name.",
            "write e.g. 'code: insufficient_funds'.",
        )
        return None
    if code in lang.BUILTIN_ERRORS:
        ctx.error((*path, "code"), f"'{code}' is a built-in error code.", "pick a more specific code.")
    condition = rule.condition
    parsed = parse_condition(ctx, condition, (*path, "condition"), scopes, guard)
    if parsed is None:
        return None
    left, op, right = parsed
    message = rule.message or f"{command} requires {condition.strip()}"
    return Rule(left, op, right, code, message, condition.strip())


def parse_condition(
    ctx: Context, condition: str, path: PathT, scopes: Scopes, guard: Guard | None = None
) -> tuple[Expr, str, Expr] | None:
    """`<side> <op> <side or literal>` or `<side> [not] in <list>`, checked; None if reported."""
    guard = guard or (lambda source, where: False)
    member = _MEMBER.match(condition)
    if member and not re.search(r"==|!=|<|>", member.group(1)):
        return _membership(ctx, member.groups(), path, scopes, guard)
    match = _COMPARE.match(condition)
    if not match:
        ctx.error(
            path,
            f"the condition '{condition}' is not '<reference> <op> <reference or value>'.",
            "write e.g. 'state.balance >= command.amount' "
            "(ops: == != < <= > >=, in, not in; + - * / and len(...) on either side).",
        )
        return None
    return _comparison(ctx, match.groups(), path, scopes, guard)


def _side(ctx: Context, text: str, path: PathT, scopes: Scopes, guard: Guard) -> tuple[Expr, bool] | None:
    """A reference or an expression, with whether it may be None."""
    for source in _SOURCE.findall(text):
        if guard(source, path):
            return None
    if is_ref(text) or not is_expression(text):
        expr = ctx.parse_ref(text, path, scopes)
        if expr is None:
            return None
        field = scopes[expr.source][expr.name]
        expr.type = field.type
        return expr, field.optional
    parsed = parse_expression(ctx, text, path, scopes)
    return None if parsed is None else (parsed, False)


def _comparison(
    ctx: Context, parts: tuple[str, ...], path: PathT, scopes: Scopes, guard: Guard
) -> tuple[Expr, str, Expr] | None:
    left_text, op, right_text = parts
    left_side = _side(ctx, left_text, path, scopes, guard)
    if left_side is None:
        return None
    left, left_optional = left_side
    assert left.type is not None
    right: Expr
    sources = (*scopes, "state")  # the state: reported if not in scope yet
    if _HAS_REF.search(right_text) and (not is_ref(right_text) or right_text.split(".")[0] in sources):
        right_side = _side(ctx, right_text, path, scopes, guard)
        if right_side is None:
            return None
        right, right_optional = right_side
        assert right.type is not None
        if not (compatible(right.type, left.type) or compatible(left.type, right.type)):
            ctx.error(
                path,
                f"cannot compare {left_text} ({left.type.text}) with {right_text} ({right.type.text}).",
                "compare values of the same type.",
            )
            return None
        optional = left_optional or right_optional
    else:
        literal = _literal(right_text)
        probe = Field("value", left.type, optional=op in ("==", "!="))
        problem = literal_problem(literal, probe, ctx.types)
        if problem:
            ctx.error(
                path,
                f"the value {right_text} cannot be compared with {left_text}: {problem}.",
                "compare with a value of the field's type (quote text: 'active').",
            )
            return None
        right = Expr("literal", literal=literal)
        optional = left_optional
    if op not in ("==", "!=") and (not fits(left.type.kind, (*NUMERIC, "date", "datetime")) or optional):
        ctx.error(
            path,
            f"'{op}' needs required numbers, dates or times; {left_text} is "
            f"{'optional ' if left_optional else ''}{left.type.text}.",
            "use == or !=, or compare numbers.",
        )
        return None
    return left, op, right


def _membership(
    ctx: Context, parts: tuple[str, ...], path: PathT, scopes: Scopes, guard: Guard
) -> tuple[Expr, str, Expr] | None:
    left_text, op, right_text = parts
    op = "not in" if op in ("not in", "not_in") else "in"
    left_side = _side(ctx, left_text, path, scopes, guard)
    if left_side is None:
        return None
    left, _ = left_side
    assert left.type is not None
    if left.type.kind in ("list", "object"):
        ctx.error(
            path,
            f"'{op}' tests one value, but {left_text} is {left.type.text}.",
            "test a scalar or an enum field.",
        )
        return None
    if is_ref(right_text):
        right_side = _side(ctx, right_text, path, scopes, guard)
        if right_side is None:
            return None
        right, right_optional = right_side
        assert right.type is not None
        item = right.type.item
        if right.type.kind == UNCHECKED:
            return left, op, right
        if right.type.kind != "list" or item is None or right_optional:
            ctx.error(
                path,
                f"'{op}' needs a required list on its right; {right_text} is "
                f"{'optional ' if right_optional else ''}{right.type.text}.",
                "test membership in a list field, or in a literal list such as [eur, usd].",
            )
            return None
        if not (compatible(left.type, item) or compatible(item, left.type)):
            ctx.error(
                path,
                f"{left_text} ({left.type.text}) cannot be in {right_text} ({right.type.text}).",
                "test a value of the list's item type.",
            )
            return None
        return left, op, right
    literal = _literal(right_text)
    if not isinstance(literal, list) or not literal:
        ctx.error(
            path,
            f"'{op}' needs a list field or a literal list on its right, not {right_text}.",
            "write e.g. 'command.currency in [eur, usd]'.",
        )
        return None
    probe = Field("value", left.type)
    for item_value in literal:
        problem = literal_problem(item_value, probe, ctx.types)
        if problem:
            ctx.error(
                path,
                f"the list {right_text} cannot hold values of {left_text}: {problem}.",
                "list values of the field's type.",
            )
            return None
    return left, op, Expr("literal", literal=literal, type=TypeRef("list", left.type.name, left.type))


def _literal(text: str) -> Any:
    """The right side of a condition read as a YAML value (`false`, `0.5`, `'active'`), by the
    same bounded loader as the file; what it cannot read stays text."""
    doc, problems = load_text(text, "condition")
    return text if doc is None or problems else doc.data
