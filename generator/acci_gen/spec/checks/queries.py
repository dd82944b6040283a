"""Queries: the projection they read, filters on its columns with parameters of fitting types,
orderings, paging, and keyset pagination that has an order to follow."""

from __future__ import annotations

import re

from acci_gen.model import Domain, Field, Query
from acci_gen.names import parameter_problems, query_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, compatible
from acci_gen.spec.checks.fields import parse_fields
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import fits

_ORDER_RE = re.compile(r"^([a-z][a-z0-9_]*)(?:\s+(asc|desc))?$")
_TEXT_OPS = ("like", "ilike", "contains")


def check_queries(ctx: Context, queries: dict[str, lang.Query], domain: Domain) -> None:
    projections = {p.name: p for p in domain.projections}
    for name, spec in queries.items():
        path: PathT = ("queries", name)
        problem = query_problem(name)
        if problem:
            ctx.error(path, problem[0], problem[1], key=True)
            continue
        params = parse_fields(ctx, spec.params, (*path, "params"), "parameter")
        projection = projections.get(spec.projection)
        if projection is None and not ctx.broken("projections", spec.projection):
            ctx.error(
                (*path, "projection"),
                f"unknown projection '{spec.projection}'.",
                did_you_mean(spec.projection, projections, what="projections"),
            )
        query = Query(name, spec.projection, params, [], [], None, None, spec.returns, spec.description or "")
        domain.queries.append(query)
        if projection is None:
            continue
        columns = {c.name: c for c in projection.columns}
        by_param = {p.name: p for p in params}
        for index, item in enumerate(spec.filter or []):
            fpath = (*path, "filter", index)
            _check_filter(ctx, item, fpath, columns, by_param)
            query.filters.append(ctx.raw(fpath))  # as written: the renderers read it
        for index, order in enumerate(spec.order_by or []):
            match = _ORDER_RE.match(order)
            if match is None:
                ctx.error(
                    (*path, "order_by", index),
                    f"{order!r} is not '<column>' or '<column> desc'.",
                    "write e.g. '- name' or '- created_at desc'.",
                )
            elif match.group(1) not in columns:
                ctx.error(
                    (*path, "order_by", index),
                    f"'{match.group(1)}' is not a column of {projection.name}.",
                    did_you_mean(match.group(1), columns, what="columns"),
                )
            else:
                query.order_by.append((match.group(1), match.group(2) or "asc"))
        for key, value in (("limit", spec.limit), ("offset", spec.offset)):
            if isinstance(value, str):
                _check_paging_param(ctx, value, (*path, key), by_param, key)
        query.limit, query.offset = spec.limit, spec.offset
        if spec.paginate is not None:
            _check_keyset(ctx, query, (*path, "paginate"))
        for param, message, fix in parameter_problems(by_param, keyset=query.paginate == "keyset"):
            ctx.error((*path, "params", param), message, fix, key=True)


def _check_filter(
    ctx: Context, item: lang.Filter, path: PathT, columns: dict[str, Field], params: dict[str, Field]
) -> None:
    for index, sub in enumerate(item.any or []):
        _check_filter(ctx, sub, (*path, "any", index), columns, params)
    for column_name, ops in (item.model_extra or {}).items():
        cpath = (*path, column_name)
        column = columns.get(column_name)
        if column is None:
            ctx.error(
                cpath,
                f"'{column_name}' is not a column.",
                did_you_mean(column_name, columns, what="columns"),
                key=True,
            )
            continue
        for op, param in ops.items():
            opath = (*cpath, op)
            if param not in params:
                ctx.error(
                    opath,
                    f"'{param}' is not a parameter of the query.",
                    did_you_mean(param, params, what="parameters"),
                )
                continue
            kinds = ("string", "email")
            if op in _TEXT_OPS and not (
                fits(column.type.kind, kinds) and fits(params[param].type.kind, kinds)
            ):
                ctx.error(
                    opath,
                    f"'{op}' compares text, but {column_name} is {column.type.text} and "
                    f"{param} is {params[param].type.text}.",
                    "use eq/ne/lt/le/gt/ge for other types.",
                )
            elif op not in _TEXT_OPS and not compatible(params[param].type, column.type):
                ctx.error(
                    opath,
                    f"the parameter {param} ({params[param].type.text}) cannot be compared with "
                    f"{column_name} ({column.type.text}).",
                    "give the parameter the column's type.",
                )


def _check_paging_param(ctx: Context, value: str, path: PathT, params: dict[str, Field], key: str) -> None:
    if value not in params:
        ctx.error(
            path,
            f"'{key}' must be a whole number or the name of an int parameter.",
            did_you_mean(
                value, params, what="parameters", otherwise=f"declare '{value}: int' under 'params:'."
            ),
        )
    elif not fits(params[value].type.kind, ("int",)):
        ctx.error(path, f"the parameter '{value}' used as {key} must be an int.", f"declare '{value}: int'.")


def _check_keyset(ctx: Context, query: Query, path: PathT) -> None:
    directions = {direction for _, direction in query.order_by}
    if not query.order_by or len(directions) != 1:
        ctx.error(
            path,
            "keyset pagination needs an 'order_by' whose columns all go the same way.",
            "order by e.g. '[opened_at desc]' or '[name, created_at]'.",
        )
    elif query.offset is not None:
        ctx.error(path, "keyset pagination replaces 'offset'.", "remove 'offset'.")
    elif query.returns == "one":
        ctx.error(path, "a query that returns one row has no pages.", "remove 'paginate'.")
    else:
        query.paginate = "keyset"
