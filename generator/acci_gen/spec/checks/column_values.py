"""The computed values of projection columns ({add}, {subtract}, {coalesce}, {greatest}, {least}),
the conditions of handlers (`when:`) and the read-model scenarios of a projection."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from acci_gen.model import NUMERIC, Domain, Field, Projection
from acci_gen.names import snake_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, Scopes, compatible, is_ref
from acci_gen.spec.checks.rules import parse_condition
from acci_gen.spec.checks.scenarios import event_instance
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import fits, value_problem

ColumnOp = lang.AddTo | lang.SubtractFrom | lang.Coalesce | lang.Greatest | lang.Least


def number_literal(value: Any) -> Decimal | int | None:
    """A number written as a number or a decimal string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def check_column_op(
    ctx: Context, spec: ColumnOp, column: Field, path: PathT, scopes: Scopes, what: str, check_value: Any
) -> None:
    """Check a computed column value; `check_value` checks a plain reference or literal."""
    if isinstance(spec, (lang.AddTo, lang.SubtractFrom)):
        op, operand = ("add", spec.add) if isinstance(spec, lang.AddTo) else ("subtract", spec.subtract)
        opath = (*path, op)
        if not fits(column.type.kind, NUMERIC):
            ctx.error(
                opath,
                f"cannot {op} to {what} ({column.type.text}): it is not a number.",
                "use it on an int or decimal column.",
            )
            return
        if isinstance(operand, str) and is_ref(operand.strip()):
            expr = ctx.parse_ref(operand.strip(), opath, scopes)
            if expr is None:
                return
            source = scopes[expr.source][expr.name]
            if not fits(source.type.kind, NUMERIC) or source.optional:
                ctx.error(
                    opath,
                    f"cannot {op} {operand} ({'optional ' if source.optional else ''}{source.type.text}) "
                    f"to {what}: {op} needs a required number.",
                    "use a required int or decimal field, or a number.",
                )
            elif column.type.kind == "int" and source.type.kind == "decimal":
                ctx.error(
                    opath,
                    f"cannot {op} the decimal {operand} to the int column {what}.",
                    "make the column a decimal.",
                )
            return
        number = number_literal(operand)
        if number is None:
            ctx.error(
                opath,
                f"'{operand}' is neither a reference nor a number.",
                f"write e.g. '{op}: event.amount' or '{op}: 1'.",
            )
        elif column.type.kind == "int" and not isinstance(number, int):
            ctx.error(opath, f"cannot {op} {operand} to the int column {what}.", "use a whole number.")
        return
    if isinstance(spec, lang.Coalesce):
        for index, item in enumerate(spec.coalesce):
            check_value(ctx, item, column, (*path, "coalesce", index), scopes, what, partial=True)
        return
    op, ref = ("greatest", spec.greatest) if isinstance(spec, lang.Greatest) else ("least", spec.least)
    opath = (*path, op)
    if not fits(column.type.kind, (*NUMERIC, "date", "datetime", "string")):
        ctx.error(
            opath,
            f"'{op}' needs a number, a date, a time or text; {what} is {column.type.text}.",
            "use it on such a column.",
        )
        return
    check_value(ctx, ref, column, opath, scopes, what, partial=True)


def check_condition(
    ctx: Context, text: str, path: PathT, scopes: Scopes, projection: Projection, event: str
) -> None:
    parsed = parse_condition(ctx, text, path, scopes)
    if parsed is not None:
        projection.conditions[event] = parsed


def check_scenarios(
    ctx: Context, projection: Projection, scenarios: list[lang.ReadModelScenario], path: PathT, domain: Domain
) -> None:
    seen: set[str] = set()
    columns = {c.name: c for c in projection.columns}
    handled = list(projection.handlers) or [
        e.name for e in domain.events if projection.from_state and e.aggregate == projection.from_state
    ]
    for index, spec in enumerate(scenarios):
        spath = (*path, index)
        problem = snake_problem(spec.name, "scenario")
        if problem:
            ctx.error((*spath, "name"), problem[0], problem[1])
            continue
        if spec.name in seen:
            ctx.error(
                (*spath, "name"),
                f"the scenario name '{spec.name}' is used twice in {projection.name}.",
                "give each scenario its own name.",
            )
            continue
        seen.add(spec.name)
        given = []
        for gindex, item in enumerate(spec.given):
            parsed = event_instance(
                ctx, item, (*spath, "given", gindex), [e.name for e in domain.events], None, domain
            )
            if parsed is not None:
                given.append(parsed)
        if not any(name in handled for name, _ in given):
            ctx.error(
                (*spath, "given"),
                f"none of the events is handled by {projection.name}.",
                f"give events it handles: {', '.join(handled) or 'none yet'}.",
            )
        rows = []
        for rindex, row in enumerate(spec.rows):
            rpath = (*spath, "rows", rindex)
            for name, value in row.items():
                column = columns.get(name)
                if column is None:
                    ctx.error(
                        (*rpath, name),
                        f"'{name}' is not a column of {projection.name}.",
                        did_you_mean(name, columns, what="columns"),
                        key=True,
                    )
                    continue
                unfit = value_problem(value, Field(name, column.type, optional=True), ctx.types)
                if unfit:
                    ctx.error(
                        (*rpath, name),
                        f"the value does not fit {projection.name}.{name}: {unfit}.",
                        "give a value of the column's type.",
                    )
            rows.append(dict(row))
        projection.scenarios.append((spec.name, given, rows))


__all__ = ["check_column_op", "check_condition", "check_scenarios", "compatible", "number_literal"]
