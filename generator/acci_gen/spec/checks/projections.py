"""Projections: table names, columns a table can hold, and handlers that name real events and
columns with values of fitting types."""

from __future__ import annotations

from typing import Any

from acci_gen.model import ENVELOPE_FIELDS, Domain, Field, Projection, TypeRef
from acci_gen.names import column_problems, snake_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, Scopes, compatible
from acci_gen.spec.checks.fields import parse_fields
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import value_problem

Handler = (
    lang.InsertHandler | lang.UpsertHandler | lang.UpdateHandler | lang.DeleteHandler | lang.CustomHandler
)


def check_projections(ctx: Context, projections: dict[str, lang.Projection], domain: Domain) -> None:
    tables: dict[str, PathT] = {}
    for name, spec in projections.items():
        path: PathT = ("projections", name)
        problem = snake_problem(name, "projection")
        if problem:
            ctx.error(path, problem[0], problem[1], key=True)
            continue
        table = spec.table if spec.table is not None else name
        problem = snake_problem(table, "table")
        if problem:
            ctx.error((*path, "table"), problem[0], problem[1])
        elif table in tables:
            ctx.error(
                (*path, "table"),
                f"the table '{table}' is already used by another projection.",
                "give each projection its own table.",
            )
        else:
            tables[table] = path
        columns = parse_fields(ctx, spec.columns, (*path, "columns"), "column")
        for column_name, message, fix in column_problems(c.name for c in columns):
            ctx.error((*path, "columns", column_name), message, fix, key=True)
        for column in columns:
            if column.type.kind in ("object", "list"):
                ctx.error(
                    (*path, "columns", column.name),
                    f"the column '{column.name}' must be a scalar or an enum, not {column.type.text}.",
                    "flatten it into scalar columns.",
                    key=True,
                )
        by_name = {c.name: c for c in columns}
        key = spec.key
        if key not in by_name:
            ctx.error(
                (*path, "key"),
                f"the key '{key}' is not a column of {name}.",
                did_you_mean(key, by_name, what="columns"),
            )
            key = ""
        segments = spec.segments
        if segments is not None and spec.inline:
            ctx.error(
                (*path, "segments"),
                f"{name} is inline (updated in each append's transaction): it has no runner to split "
                "into segments.",
                "remove 'segments' (or 'inline').",
            )
            segments = None
        projection = Projection(name, table, key, columns, {}, spec.description or "", spec.inline, segments)
        domain.projections.append(projection)
        for event_name, handler in (spec.on or {}).items():
            _check_handler(ctx, projection, by_name, event_name, handler, (*path, "on", event_name), domain)


def _check_handler(
    ctx: Context,
    projection: Projection,
    columns: dict[str, Field],
    event_name: str,
    handler: Handler,
    path: PathT,
    domain: Domain,
) -> None:
    event = domain.event(event_name)
    if event is None:
        if not ctx.broken("events", event_name):
            ctx.error(
                path,
                f"the projection {projection.name} handles '{event_name}', which is not an event.",
                did_you_mean(event_name, [e.name for e in domain.events], what="events"),
                key=True,
            )
        return
    # The handler as written, {action: values, key?: expr}: the read-model renderers read it.
    body: dict[str, Any] = ctx.raw(path)
    if isinstance(handler, lang.CustomHandler):
        projection.handlers[event_name] = body
        return
    scopes: Scopes = {
        "event": {f.name: f for f in event.fields},
        "envelope": {k: Field(k, TypeRef(v, v)) for k, v in ENVELOPE_FIELDS.items()},
    }
    if not isinstance(handler, lang.DeleteHandler):
        action, values = _action(handler)
        for column_name, spec in (values or {}).items():
            cpath = (*path, action, column_name)
            column = columns.get(column_name)
            if column is None:
                ctx.error(
                    cpath,
                    f"'{column_name}' is not a column of {projection.name}.",
                    did_you_mean(column_name, columns, what="columns"),
                    key=True,
                )
                continue
            check_value(
                ctx,
                spec,
                column,
                cpath,
                scopes,
                f"{projection.name}.{column_name}",
                partial=action == "update",
            )
        if action in ("insert", "upsert"):
            for column in columns.values():
                # A reserved column is reported where it is declared (remove it): asking for its
                # value here would contradict that fix.
                reserved = any(column_problems([column.name]))
                if column.required and column.name not in (values or {}) and not reserved:
                    ctx.error(
                        (*path, action),
                        f"'{action}' gives no value for the required column '{column.name}'.",
                        f"add '{column.name}: event.<field>' or make the column optional.",
                        key=True,
                    )
    projection.handlers[event_name] = body
    if isinstance(handler, lang.InsertHandler) or not projection.key:
        return
    key_column = columns[projection.key]
    if handler.key is None and projection.key not in scopes["event"]:
        ctx.error(
            path,
            f"{event_name} has no field '{projection.key}' to find the row of {projection.name} by.",
            "add 'key: event.<field>' to the handler.",
            key=True,
        )
        return
    key = handler.key if handler.key is not None else f"event.{projection.key}"
    check_value(ctx, key, key_column, (*path, "key"), scopes, f"the key of {projection.name}")


def _action(handler: lang.InsertHandler | lang.UpsertHandler | lang.UpdateHandler) -> tuple[str, Any]:
    if isinstance(handler, lang.InsertHandler):
        return "insert", handler.insert
    if isinstance(handler, lang.UpsertHandler):
        return "upsert", handler.upsert
    return "update", handler.update


def check_value(
    ctx: Context,
    spec: str | lang.ValueOf,
    target: Field,
    path: PathT,
    scopes: Scopes,
    what: str,
    *,
    partial: bool = False,
) -> None:
    """Check a value mapped to `target`. With `partial` (updates) an optional source is allowed:
    the target then changes only when the value is present."""
    if isinstance(spec, lang.ValueOf):
        problem = value_problem(spec.value, target, ctx.types)
        if problem:
            ctx.error(
                (*path, "value"), f"the value does not fit {what}: {problem}.", "give a value of its type."
            )
        return
    expr = ctx.parse_ref(spec, path, scopes)
    if expr is None:
        return
    source = scopes[expr.source][expr.name]
    if not compatible(source.type, target.type) or (source.optional and not target.optional and not partial):
        ctx.error(
            path,
            f"{spec} ({'optional ' if source.optional else ''}{source.type.text}) does not fit "
            f"{what} ({target.type.text}).",
            "map a value of a compatible type.",
        )
