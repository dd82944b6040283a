"""The read-model modules: projections.py (a Projection per projection, with its SQL per event) and
queries.py (row models, parameter models, and the domain's query handler with its SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acci_gen import names
from acci_gen.emit.python.exprs import condition_source
from acci_gen.emit.python.pytypes import decimal_value, declaration, plain_declaration
from acci_gen.emit.sql.tables import Column, sql_type, tables
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_docstring, py_str, py_value
from acci_gen.model import EVENT_METADATA_FIELDS, MISSING, Domain, Event, Field, Projection, Query

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
    #: The Python test of its `when:`, if any.
    guard: Code | None = None


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
    all_statements: list[list[Statement]] = []
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
        all_statements.append(statements)
        if projection.from_state:
            views.append(_from_state_view(domain, projection))
            continue
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
                "state": None,
            }
        )
    return {
        "projections": views,
        "custom": any(v["custom"] for v in views),
        "domain_events": sorted({e for p in domain.projections for e in effective_handlers(p)}),
        "instances": [Code(f"{v['class_name']}()") for v in views],
        "from_state": sorted(
            {
                c
                for p in domain.projections
                if p.from_state
                for c in (p.from_state, names.state_class(p.from_state))
            }
        ),
        "uses_jsonb": any(v.get("state") and v["state"]["jsonb"] for v in views),
        "uses_decimal": any(
            "Decimal(" in code
            for statements in all_statements
            for statement in statements
            for code in [*statement.params, statement.guard or ""]
        ),
    }


def _from_state_view(domain: Domain, projection: Projection) -> dict[str, Any]:
    """A table that holds an aggregate's state: each event of the aggregate reads the row, applies
    the aggregate's own `evolve` and writes every column back."""
    aggregate = domain.aggregate(projection.from_state)
    assert aggregate is not None
    events = [e.name for e in domain.events if e.aggregate == aggregate.name]
    columns = [c.name for c in projection.columns]
    tenant, key = names.TENANT, projection.key
    select = f"SELECT {', '.join(columns)} FROM {{}} WHERE {tenant} = %s AND {key} = %s"
    others = [c for c in columns if c != key]
    placeholders = ", ".join(["%s"] * (len(columns) + 1))
    upsert = (
        f"INSERT INTO {{}} ({', '.join([tenant, *columns])}) VALUES ({placeholders}) "
        f"ON CONFLICT ({tenant}, {key}) "
        + (f"DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in others)}" if others else "DO NOTHING")
    )
    values = []
    jsonb = False
    for column in projection.columns:
        if column.type.kind in ("object", "list"):
            jsonb = True
            values.append(Code(f"Jsonb(data[{py_str(column.name)}])"))
        elif column.type.kind == "enum":
            text = f"state.{column.name}"
            values.append(
                Code(f"None if {text} is None else str({text})" if column.optional else f"str({text})")
            )
        else:
            values.append(Code(f"state.{column.name}"))
    return {
        "name": projection.name,
        "class_name": names.projection_class(projection.name),
        "doc": py_docstring(projection.description),
        "table": projection.table,
        "inline": projection.inline,
        "event_types": tuple_of([py_str(e) for e in events]),
        "statements": [],
        "custom": [],
        "segments": projection.segments,
        "state": {
            "aggregate": aggregate.name,
            "state_class": names.state_class(aggregate.name),
            "columns": tuple_of([py_str(c) for c in columns]),
            "select": select,
            "upsert": upsert,
            "row_values": values,
            "jsonb": jsonb,
        },
    }


def _statement(projection: Projection, event: Event, handler: dict[str, Any]) -> Statement:
    constant = f"_ON_{names.snake(event.name).upper()}"
    fields = {f.name: f for f in event.fields}
    columns = {c.name: c for c in projection.columns}
    key = projection.key
    tenant = names.TENANT
    guard = _guard(projection, event)
    action = next(a for a in ("insert", "upsert", "update", "delete") if a in handler)
    if action in ("update", "delete"):
        key_param = _param(handler.get("key", f"event.{key}"), fields)
    if action == "delete":
        sql = f"DELETE FROM {{}} WHERE {tenant} = %s AND {key} = %s"
        return Statement(event.name, constant, sql, [Code("event.tenant_id"), key_param], guard)
    values: dict[str, Any] = handler[action]
    if action == "update":
        sets, params = [], []
        for column, spec in values.items():
            text, column_params = _update_value(column, spec, fields, columns[column])
            sets.append(f"{column} = {text}")
            params += column_params
        sql = f"UPDATE {{}} SET {', '.join(sets)} WHERE {tenant} = %s AND {key} = %s"
        return Statement(event.name, constant, sql, [*params, Code("event.tenant_id"), key_param], guard)
    # A column the handler does not name starts at its default (a counter at 0, not null).
    defaults = {
        c.name: {"value": c.default}
        for c in projection.columns
        if c.name not in values and c.default is not MISSING and c.default is not None
    }
    column_names = [tenant, *values, *defaults]
    texts, params = ["%s"], [Code("event.tenant_id")]
    for column, spec in {**values, **defaults}.items():
        text, column_params = _insert_value(spec, fields, columns[column])
        texts.append(text)
        params += column_params
    conflict = [_conflict_value(c, spec) for c, spec in values.items() if c != key]
    alias = " AS t" if action == "upsert" and any("t." in c for c in conflict) else ""
    sql = f"INSERT INTO {{}}{alias} ({', '.join(column_names)}) VALUES ({', '.join(texts)})"
    if action == "upsert":
        tail = ", ".join(conflict)
        sql += f" ON CONFLICT ({tenant}, {key}) " + (f"DO UPDATE SET {tail}" if tail else "DO NOTHING")
    return Statement(event.name, constant, sql, params, guard)


def _op(spec: Any) -> str:
    """The computed form of a column value (add, subtract, coalesce, greatest, least), or ''."""
    if isinstance(spec, dict):
        return next((op for op in ("add", "subtract", "coalesce", "greatest", "least") if op in spec), "")
    return ""


def _operand(value: Any, fields: dict[str, Field]) -> Code:
    """An operand of add or subtract: a reference or a number."""
    if isinstance(value, str) and "." in value and not value.strip()[:1].isdigit():
        return _param(value.strip(), fields)
    return decimal_value(value) if not isinstance(value, int) else py_value(value)


def _cast(column: Field) -> str:
    return f"CAST(%s AS {sql_type(column)})"


def _insert_value(spec: Any, fields: dict[str, Field], column: Field) -> tuple[str, list[Code]]:
    """The SQL and parameters of a column's value in a new row (add and subtract start from 0)."""
    op = _op(spec)
    if op == "add":
        return "%s", [_operand(spec["add"], fields)]
    if op == "subtract":
        return "%s", [Code(f"-{_operand(spec['subtract'], fields)}")]
    if op == "coalesce":
        items = spec["coalesce"]
        return f"coalesce({', '.join([_cast(column)] * len(items))})", [_param(i, fields) for i in items]
    if op in ("greatest", "least"):
        return "%s", [_param(spec[op], fields)]
    return "%s", [_param(spec, fields)]


def _update_value(column: str, spec: Any, fields: dict[str, Field], field: Field) -> tuple[str, list[Code]]:
    """The SQL of `SET column = ...` and its parameters."""
    op = _op(spec)
    if op in ("add", "subtract"):
        # A column the row was inserted without is null: it counts from 0.
        return f"coalesce({column}, 0) {'+' if op == 'add' else '-'} %s", [_operand(spec[op], fields)]
    if op == "coalesce":
        items = spec["coalesce"]
        casts = ", ".join([_cast(field)] * len(items))
        return f"coalesce({casts}, {column})", [_param(i, fields) for i in items]
    if op in ("greatest", "least"):
        return f"{op}({column}, {_cast(field)})", [_param(spec[op], fields)]
    if _optional_source(spec, fields):
        return f"coalesce(%s, {column})", [_param(spec, fields)]
    return "%s", [_param(spec, fields)]


def _conflict_value(column: str, spec: Any) -> str:
    """`column = ...` of an upsert that finds the row: the new value, or computed from both."""
    op = _op(spec)
    if op in ("add", "subtract"):  # the new row's value is signed already
        return f"{column} = coalesce(t.{column}, 0) + EXCLUDED.{column}"
    if op == "coalesce":
        return f"{column} = coalesce(EXCLUDED.{column}, t.{column})"
    if op in ("greatest", "least"):
        return f"{column} = {op}(t.{column}, EXCLUDED.{column})"
    return f"{column} = EXCLUDED.{column}"


def _guard(projection: Projection, event: Event) -> Code | None:
    """The Python test of the handler's `when:` on the decoded payload, if it has one."""
    condition = projection.conditions.get(event.name)
    if condition is None:
        return None
    left, op, right = condition
    fields = {f.name: f for f in event.fields}
    refs = {f"event.{name}": f"payload.{name}" for name in fields}
    refs |= {f"envelope.{name}": text for name, text in ENVELOPE.items()}
    refs |= {f"metadata.{name}": f"event.metadata.{name}" for name in EVENT_METADATA_FIELDS}
    return condition_source(left, op, right, left.type, refs=refs)


def _optional_source(spec: Any, fields: dict[str, Field]) -> bool:
    if isinstance(spec, str) and spec.startswith("event."):
        source = fields.get(spec.split(".", 1)[1])
        return source is not None and source.optional
    return False


def _param(spec: Any, fields: dict[str, Field]) -> Code:
    """The Python of a column value: payload.x, an envelope or metadata attribute or a literal."""
    if isinstance(spec, dict):
        return py_value(spec["value"])
    source, name = str(spec).split(".", 1)
    if source == "envelope":
        return Code(ENVELOPE[name])
    if source == "metadata":
        return Code(f"event.metadata.{name}")
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
