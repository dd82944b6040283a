"""The read-model modules: projections.py (a Projection per projection, with its SQL per event) and
queries.py (row models, parameter models, and the domain's query handler with its SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acci_gen import names
from acci_gen.emit.python.pytypes import declaration, plain_declaration
from acci_gen.emit.sql.tables import Column, tables
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_docstring, py_str, py_value
from acci_gen.model import MISSING, Domain, Event, Field, Projection, Query

#: Where each envelope field comes from on a RecordedEvent.
ENVELOPE = {
    "timestamp": "event.timestamp",
    "aggregate_id": "event.aggregate_id",
    "version": "event.version",
    "event_id": "event.id",
    "user_id": "event.metadata.user_id",
    "tenant_id": "event.tenant_id",
}

_SQL_OPS = {
    "eq": "=",
    "ne": "<>",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "like": "LIKE",
    "ilike": "ILIKE",
}


@dataclass(frozen=True)
class Statement:
    """The SQL of one event's declarative handler, with the Python of its parameters."""

    event: str
    constant: str
    sql: str
    params: list[Code]


def custom_function(projection: Projection, event_name: str) -> str:
    """The hand-written handler of an event, in custom/projections.py."""
    return f"{projection.name}_on_{names.snake(event_name)}"


def effective_handlers(projection: Projection) -> dict[str, dict[str, Any]]:
    """The handlers that change the table: an `update: {}` changes nothing, so its event is not read."""
    return {name: h for name, h in projection.handlers.items() if h.get("update", True) != {}}


def render_readmodels(domain: Domain, header: Code) -> dict[str, str]:
    pkg = domain.name
    common = {"header": header, "domain": domain, "domain_types": [t.name for t in domain.types]}
    return {
        f"{pkg}/projections.py": render("projections.py.jinja2", **common, **projections_view(domain)),
        f"{pkg}/queries.py": render("queries.py.jinja2", **common, **queries_view(domain)),
    }


def tuple_of(items: list[Code]) -> Code:
    return Code("(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")")


# -- projections ----------------------------------------------------------------------------------


def projections_view(domain: Domain) -> dict[str, Any]:
    views = []
    for projection in domain.projections:
        statements: list[Statement] = []
        custom = []
        for event_name, handler in effective_handlers(projection).items():
            event = domain.event(event_name)
            assert event is not None
            if "custom" in handler:
                custom.append({"event": event_name, "function": custom_function(projection, event_name)})
            else:
                statements.append(_statement(projection, event, handler))
        views.append(
            {
                "name": projection.name,
                "class_name": names.projection_class(projection.name),
                "doc": py_docstring(projection.description),
                "table": projection.table,
                "inline": projection.inline,
                "segments": projection.segments,
                "event_types": tuple_of([py_str(e) for e in effective_handlers(projection)]),
                "statements": statements,
                "custom": custom,
            }
        )
    return {
        "projections": views,
        "custom": any(v["custom"] for v in views),
        "domain_events": sorted({e for p in domain.projections for e in effective_handlers(p)}),
        "instances": [Code(f"{v['class_name']}()") for v in views],
    }


def _statement(projection: Projection, event: Event, handler: dict[str, Any]) -> Statement:
    constant = f"_ON_{names.snake(event.name).upper()}"
    fields = {f.name: f for f in event.fields}
    key = projection.key
    tenant = names.TENANT
    action = next(a for a in ("insert", "upsert", "update", "delete") if a in handler)
    if action in ("update", "delete"):
        key_param = _param(handler.get("key", f"event.{key}"), fields)
    if action == "delete":
        sql = f"DELETE FROM {{}} WHERE {tenant} = %s AND {key} = %s"
        return Statement(event.name, constant, sql, [Code("event.tenant_id"), key_param])
    values: dict[str, Any] = handler[action]
    if action == "update":
        sets = [
            f"{column} = coalesce(%s, {column})" if _optional_source(spec, fields) else f"{column} = %s"
            for column, spec in values.items()
        ]
        params = [_param(spec, fields) for spec in values.values()]
        sql = f"UPDATE {{}} SET {', '.join(sets)} WHERE {tenant} = %s AND {key} = %s"
        return Statement(event.name, constant, sql, [*params, Code("event.tenant_id"), key_param])
    column_names = [tenant, *values]
    params = [Code("event.tenant_id"), *(_param(spec, fields) for spec in values.values())]
    sql = f"INSERT INTO {{}} ({', '.join(column_names)}) VALUES ({', '.join(['%s'] * len(column_names))})"
    if action == "upsert":
        tail = ", ".join(f"{c} = EXCLUDED.{c}" for c in values if c != key)
        sql += f" ON CONFLICT ({tenant}, {key}) " + (f"DO UPDATE SET {tail}" if tail else "DO NOTHING")
    return Statement(event.name, constant, sql, params)


def _optional_source(spec: Any, fields: dict[str, Field]) -> bool:
    if isinstance(spec, str) and spec.startswith("event."):
        source = fields.get(spec.split(".", 1)[1])
        return source is not None and source.optional
    return False


def _param(spec: Any, fields: dict[str, Field]) -> Code:
    """The Python of a column value: payload.x, an envelope attribute or a literal."""
    if isinstance(spec, dict):
        return py_value(spec["value"])
    source, name = str(spec).split(".", 1)
    if source == "envelope":
        return Code(ENVELOPE[name])
    field = fields[name]
    text = f"payload.{name}"
    if field.type.kind == "enum":  # stored as its text
        return Code(f"None if {text} is None else str({text})" if field.optional else f"str({text})")
    return Code(text)


# -- queries --------------------------------------------------------------------------------------


def queries_view(domain: Domain) -> dict[str, Any]:
    table_specs = tables(domain)
    rows = [
        {
            "class_name": names.row_class(projection.name),
            "fields": [
                plain_declaration(c, nullable=c.optional or c.default is not MISSING)
                for c in projection.columns
            ],
        }
        for projection in domain.projections
    ]
    queries = []
    for query in domain.queries:
        projection = next(p for p in domain.projections if p.name == query.projection)
        queries.append(_query_view(query, projection, table_specs[projection.table].columns))
    return {"rows": rows, "queries": queries, "class_name": names.queries_class(domain.name)}


def _query_view(query: Query, projection: Projection, columns: tuple[Column, ...]) -> dict[str, Any]:
    params = {p.name: p for p in query.params}
    where = [py_str(f"{names.TENANT} = %({names.TENANT})s")]
    where += [condition for item in query.filters for condition in _conditions(item)]
    order = [f"{column} {direction.upper()}" for column, direction in query.order_by]
    if query.order_by and all(c != projection.key for c, _ in query.order_by):
        order.append(
            f"{projection.key} {query.order_by[-1][1].upper()}"
        )  # a total order: pages never overlap
    tail = ["ORDER BY " + ", ".join(order)] if order else []
    for key in ("limit", "offset"):
        value = getattr(query, key)
        if isinstance(value, str):
            tail.append(f"{key.upper()} %({value})s")
        elif isinstance(value, int):
            tail.append(f"{key.upper()} {value}")
    if query.returns == "one" and query.limit is None:
        tail.append("LIMIT 2")
    row = names.row_class(projection.name)
    keyset = query.paginate == "keyset"
    if keyset:
        # The next page starts after the last row of this one, by the same total order.
        keys = [c for c, _ in query.order_by] + (
            [projection.key] if projection.key not in dict(query.order_by) else []
        )
        op = ">" if query.order_by[0][1] == "asc" else "<"
        after = ", ".join(f"%({names.KEYSET_AFTER}:{k})s" for k in keys)
        where.append(py_str(f"({', '.join(keys)}) {op} ({after})"))
    signature = [plain_declaration(p) for p in query.params]
    if keyset:
        signature.append(Code(f"{names.KEYSET_AFTER}: {row} | None = None"))
    return {
        "name": query.name,
        "constant": f"_{query.name.upper()}",
        "doc": py_docstring(query.description),
        "parameters_class": names.parameters_class(query.name),
        "parameters": [declaration(p) for p in query.params],
        "row_class": row,
        "projection_class": names.projection_class(projection.name),
        "select": f"SELECT {', '.join(c.name for c in columns)} FROM public.{projection.table}",
        "where": where,
        "tail": " ".join(tail),
        "signature": Code(", *, " + ", ".join(signature) if signature else ""),
        "arguments": [Code(f"{py_str(p)}: {p}") for p in params],
        "after": Code(f", {names.KEYSET_AFTER}" if keyset else ""),
        "one": query.returns == "one",
        "returns": Code(f"{row} | None" if query.returns == "one" else f"list[{row}]"),
    }


def _conditions(item: dict[str, Any]) -> list[Code]:
    """A filter item as conditions: a term per column and operator (each on its own, so that an
    optional parameter left out drops only its own term), or an `any:` group."""
    if "any" in item:
        return [Code(f"_any_of({', '.join(_group(sub) for sub in item['any'])})")]
    terms = []
    for column, ops in item.items():
        for op, param in ops.items():
            if op == "contains":
                terms.append(py_str(f"{column} ILIKE %(contains:{param})s"))
            else:
                terms.append(py_str(f"{column} {_SQL_OPS[op]} %({param})s"))
    return terms


def _group(item: dict[str, Any]) -> Code:
    terms = _conditions(item)
    return terms[0] if len(terms) == 1 else Code(f"_all_of({', '.join(terms)})")
