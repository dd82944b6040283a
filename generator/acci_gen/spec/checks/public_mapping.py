"""Mappings and conditions of public events, shared by publishing (internal event -> public
event) and consuming (public event -> command): which source fills each target field, and the
conditions (`event.<field> <op> <value>`) under which an event is published or consumed."""

from __future__ import annotations

import re

from acci_gen.model import NUMERIC, Condition, Expr, Field, NamedType
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, Scopes, compatible, is_ref, literal_problem, mismatch
from acci_gen.spec.checks.public_types import conversion_problem, crosses
from acci_gen.spec.loader import PathT, load_text
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import fits

_CONDITION_RE = re.compile(r"^\s*(\S+)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")


def mapping(
    ctx: Context,
    targets: list[Field],
    mapping: dict[str, str | lang.ValueOf],
    path: PathT,
    scopes: Scopes,
    what: str,
    source_name: str,
    types: tuple[dict[str, NamedType], dict[str, NamedType]],
) -> list[tuple[str, Expr]]:
    """Each target field's source: mapped, or the same-named event field. `types`: the named types
    of the sources' fields and of the targets' (one side public, the other this domain's)."""
    by_name = {f.name: f for f in targets}
    for key in mapping:
        if key not in by_name:
            ctx.error(
                (*path, key),
                f"{what} has no field '{key}'.",
                did_you_mean(key, list(by_name), what="fields"),
                key=True,
            )
    result: list[tuple[str, Expr]] = []
    for field in targets:
        fpath = (*path, field.name)
        if field.name in mapping:
            spec = mapping[field.name]
            if isinstance(spec, lang.ValueOf):
                problem = literal_problem(spec.value, field, types[1])
                if problem:
                    ctx.error(
                        (*fpath, "value"),
                        f"the value does not fit {field.name}: {problem}.",
                        "give a value of the field's type, or map it from the event.",
                    )
                else:
                    result.append((field.name, Expr("literal", literal=spec.value)))
                continue
            expr = ctx.parse_ref(spec, fpath, scopes)
            if expr is None:
                continue
        elif field.name in scopes["event"]:
            expr = Expr("event", field.name)
        else:
            if field.required:
                ctx.error(
                    path if mapping else path[:-1],
                    f"{what} gives no value for its field '{field.name}': {source_name} has no field "
                    f"'{field.name}'.",
                    f"add 'map: {{{field.name}: event.<field>}}' (or {{value: ...}}).",
                )
            continue
        source = scopes[expr.source][expr.name]
        converted = crosses(source.type) or crosses(field.type)
        why = conversion_problem(source, field, *types) if converted else mismatch(source, field)
        if why is not None:
            ctx.error(
                fpath if field.name in mapping else path[:-1],
                f"{expr.source}.{expr.name} {why}, but '{field.name}' is "
                f"{'an optional ' if field.optional else 'a required '}{field.type.text}.",
                "make the types fit: an enum needs every value of the one it is mapped from, an object "
                "each required field (public types under 'public_types:', a command's under 'types:'), "
                "or map another field."
                if converted and why != "may be None"
                else f"map a {field.type.text} to it, or change one of the field types.",
            )
            continue
        result.append((field.name, expr))
    return result


def conditions(
    ctx: Context, texts: list[str], path: PathT, scopes: Scopes, types: dict[str, NamedType]
) -> list[Condition]:
    conditions = []
    for index, text in enumerate(texts):
        condition = _condition(ctx, text, (*path, index), scopes, types)
        if condition is not None:
            conditions.append(condition)
    return conditions


def _condition(
    ctx: Context, text: str, path: PathT, scopes: Scopes, types: dict[str, NamedType]
) -> Condition | None:
    match = _CONDITION_RE.match(text)
    if not match:
        ctx.error(
            path,
            f"the condition '{text}' is not '<reference> <op> <reference or value>'.",
            "write e.g. 'event.total > 0' (ops: == != < <= > >=).",
        )
        return None
    left_text, op, right_text = match.groups()
    left = ctx.parse_ref(left_text, path, scopes)
    if left is None:
        return None
    lfield = scopes[left.source][left.name]
    if is_ref(right_text) and right_text.split(".")[0] in scopes:
        right = ctx.parse_ref(right_text, path, scopes)
        if right is None:
            return None
        rfield = scopes[right.source][right.name]
        if not (compatible(rfield.type, lfield.type) or compatible(lfield.type, rfield.type)):
            ctx.error(
                path,
                f"cannot compare {left_text} ({lfield.type.text}) with {right_text} ({rfield.type.text}).",
                "compare values of the same type.",
            )
            return None
        optional = lfield.optional or rfield.optional
    else:
        doc, problems = load_text(right_text, "condition")
        literal = right_text if doc is None or problems else doc.data
        probe = Field("value", lfield.type, optional=op in ("==", "!="))
        problem = literal_problem(literal, probe, types)
        if problem:
            ctx.error(
                path,
                f"the value {right_text} cannot be compared with {left_text}: {problem}.",
                "compare with a value of the field's type (quote text: 'eur').",
            )
            return None
        right = Expr("literal", literal=literal)
        optional = lfield.optional
    if op not in ("==", "!=") and (not fits(lfield.type.kind, (*NUMERIC, "date", "datetime")) or optional):
        ctx.error(
            path,
            f"'{op}' needs required numbers, dates or times; {left_text} is "
            f"{'optional ' if lfield.optional else ''}{lfield.type.text}.",
            "use == or !=, or compare numbers.",
        )
        return None
    return Condition(left, op, right, text.strip())


# -- consuming -------------------------------------------------------------------------------------
