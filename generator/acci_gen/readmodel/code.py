"""The data the read-model templates need: projection classes with their SQL per event, row
models, and query handlers with their SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from acci_gen.model import MISSING, Domain, Event, Field, Projection, Query
from acci_gen.pycode import Imports, snake
from acci_gen.pytypes import IMPORTS, base_type, declaration, default, literal, names_used
from acci_gen.readmodel.tables import tables

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


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a handler, with the Python expressions of its parameters; or, for a
    hand-written handler, the name of its function in custom/projections.py."""

    event: str
    constant: str
    sql: str
    params: list[str]
    custom: str = ""


def custom_function(projection: Projection, event_name: str) -> str:
    return f"{projection.name}_on_{snake(event_name)}"


def projections_view(domain: Domain) -> dict[str, Any]:
    imports = Imports()
    imports.add("collections.abc", "Sequence")
    imports.add("typing", "ClassVar")
    imports.add("psycopg", "sql")
    imports.add("acci", "RecordedEvent")
    imports.add("acci.projections", "Projection")
    imports.add(".registry", "REGISTRY")
    views = []
    for projection in domain.projections:
        statements = []
        for event_name, handler in effective_handlers(projection).items():
            event = next(e for e in domain.events if e.name == event_name)
            imports.add(".events", event.name)
            statements.append(_statement(projection, event, handler, imports))
        declarative = any(not s.custom for s in statements)
        custom = any(s.custom for s in statements)
        if declarative:
            imports.add("acci.projections", "Statement")
        if custom:
            imports.add("psycopg", "AsyncConnection")
            imports.add("psycopg.rows", "TupleRow")
        views.append(
            {
                "projection": projection,
                "class_name": f"{pascal(projection.name)}Projection",
                "statements": statements,
                "declarative": declarative,
                "custom": custom,
            }
        )
    return {"imports": imports.render() if views else "", "projections": views}


def effective_handlers(projection: Projection) -> dict[str, dict[str, Any]]:
    """The handlers that change the table: an `update: {}` changes nothing, so its event is not read."""
    return {name: h for name, h in projection.handlers.items() if h.get("update", True) != {}}


def _statement(projection: Projection, event: Event, handler: dict[str, Any], imports: Imports) -> Statement:
    constant = "_" + "_".join(part.upper() for part in _words(f"{projection.name}_on_{event.name}"))
    if "custom" in handler:
        imports.add(".custom", "projections")
        return Statement(event.name, constant, "", [], custom=custom_function(projection, event.name))
    columns = {c.name: c for c in projection.columns}
    fields = {f.name: f for f in event.fields}
    key = projection.key
    action = next(a for a in ("insert", "upsert", "update", "delete") if a in handler)  # custom: above
    if action in ("update", "delete"):
        key_param = _param(handler.get("key", f"event.{key}"), columns[key], fields, imports)
    if action == "delete":
        return Statement(
            event.name,
            constant,
            f"DELETE FROM {{}} WHERE tenant_id = %s AND {key} = %s",
            [
                "event.tenant_id",
                key_param,
            ],
        )
    values: dict[str, Any] = handler[action]
    if action == "update":
        sets = []
        params = []
        for column, spec in values.items():
            optional = _optional_source(spec, fields)
            sets.append(f"{column} = coalesce(%s, {column})" if optional else f"{column} = %s")
            params.append(_param(spec, columns[column], fields, imports))
        sql = f"UPDATE {{}} SET {', '.join(sets)} WHERE tenant_id = %s AND {key} = %s"
        return Statement(event.name, constant, sql, [*params, "event.tenant_id", key_param])
    names = ["tenant_id", *values]
    params = ["event.tenant_id", *(_param(spec, columns[c], fields, imports) for c, spec in values.items())]
    sql = f"INSERT INTO {{}} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
    if action == "upsert":
        updates = [c for c in values if c != key]
        tail = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
        sql += f" ON CONFLICT (tenant_id, {key}) " + (f"DO UPDATE SET {tail}" if tail else "DO NOTHING")
    return Statement(event.name, constant, sql, params)


def _words(name: str) -> list[str]:
    out: list[str] = []
    for part in name.split("_"):
        word = ""
        for char in part:
            if char.isupper() and word:
                out.append(word)
                word = ""
            word += char
        out.append(word)
    return [w for w in out if w]


def _optional_source(spec: Any, fields: dict[str, Field]) -> bool:
    if isinstance(spec, str) and spec.startswith("event."):
        source = fields.get(spec.split(".", 1)[1])
        return source is not None and source.optional
    return False


def _param(spec: Any, column: Field, fields: dict[str, Field], imports: Imports) -> str:
    """The Python expression of a column value: payload.x, an envelope attribute or a literal."""
    if isinstance(spec, dict):
        return literal(spec["value"])
    source, name = str(spec).split(".", 1)
    if source == "envelope":
        return ENVELOPE[name]
    field = fields[name]
    text = f"payload.{name}"
    kind = field.type.kind
    if kind == "enum":
        return f"None if {text} is None else str({text})" if field.optional else f"str({text})"
    if kind in ("object", "list"):
        imports.add("psycopg.types.json", "Jsonb")
        imports.add("pydantic_core", "to_jsonable_python")
        value = f"Jsonb(to_jsonable_python({text}))"
        return f"None if {text} is None else {value}" if field.optional else value
    return text


# -- queries --------------------------------------------------------------------------------------


def queries_view(domain: Domain, local_types: set[str]) -> dict[str, Any]:
    imports = Imports()
    imports.add("typing", "Any", "TypeVar")
    imports.add("psycopg", "AsyncConnection")
    imports.add("psycopg.rows", "class_row")
    imports.add("psycopg_pool", "AsyncConnectionPool")
    imports.add("pydantic", "BaseModel", "ConfigDict", "ValidationError")
    imports.add("acci", "InvalidQuery", "PostgresEventStore")
    imports.add("acci.tracing", "traced_queries")
    fields: list[Field] = []
    rows = []
    table_specs = tables(domain)
    for projection in domain.projections:
        fields += projection.columns
        table = table_specs[projection.table]
        rows.append(
            {
                "projection": projection,
                "class_name": f"{pascal(projection.name)}Row",
                "fields": [_row_field(c) for c in projection.columns],
                "columns": ", ".join(c.name for c in table.columns),
            }
        )
    queries = []
    for query in domain.queries:
        projection = next(p for p in domain.projections if p.name == query.projection)
        fields += query.params
        queries.append(_query_view(query, projection, table_specs[projection.table].columns))
    for name in sorted(names_used(fields)):
        if name in IMPORTS:
            imports.add(*IMPORTS[name])
        elif name == "Annotated":
            imports.add("typing", "Annotated")
        elif name == "Field":
            imports.add("pydantic", "Field")
        elif name in local_types:
            imports.add(".events", name)
    return {
        "imports": imports.render() if queries or rows else "",
        "rows": rows,
        "queries": queries,
        "class_name": f"{pascal(domain.name)}Queries",
        "escape_like": any(q["escape_like"] for q in queries),
    }


def _row_field(column: Field) -> str:
    """A read-model column as a row field: its type, without the input constraints."""
    if column.optional or column.default is not MISSING:
        return f"{column.name}: {base_type(column.type)} | None = None"
    return f"{column.name}: {base_type(column.type)}"


def wrap(head: str, items: list[str], tail: str, indent: int, width: int = 110) -> str:
    """`head items tail` as ruff formats it: on one line, else the items on one indented line,
    else one item per line with a trailing comma."""
    pad = " " * indent
    one = f"{pad}{head}{', '.join(items)}{tail}"
    if len(one) <= width:
        return one
    hugged = f"{pad}    {', '.join(items)}"
    if len(hugged) <= width:
        return f"{pad}{head}\n{hugged}\n{pad}{tail}"
    lines = "\n".join(f"{pad}    {item}," for item in items)
    return f"{pad}{head}\n{lines}\n{pad}{tail}"


def _query_view(query: Query, projection: Projection, columns: tuple[Any, ...]) -> dict[str, Any]:
    params = {p.name: p for p in query.params}
    where = ["tenant_id = %(tenant_id)s"]
    values: dict[str, str] = {"tenant_id": "tenant_id"}  # SQL parameter -> Python expression
    escape = False
    for item in query.filters:
        clause, like = _condition(item, values, params, {c.name: c.sql_type for c in columns})
        escape = escape or like
        where.append(clause)
    order = [f"{column} {direction.upper()}" for column, direction in query.order_by]
    if query.order_by and all(c != projection.key for c, _ in query.order_by):
        last = query.order_by[-1][1].upper()
        order.append(f"{projection.key} {last}")  # a total order, so pages never overlap
    head = f"SELECT {', '.join(c.name for c in columns)} FROM public.{projection.table} WHERE "
    tail = ""
    if order:
        tail += " ORDER BY " + ", ".join(order)
    for key in ("limit", "offset"):
        value = getattr(query, key)
        if isinstance(value, str):
            values[key] = f"params.{value}"
            tail += f" {key.upper()} %({key})s"
        elif isinstance(value, int):
            tail += f" {key.upper()} {value}"
    if query.returns == "one" and query.limit is None:
        tail += " LIMIT 2"
    sql = head + " AND ".join(where) + tail
    after_sql = None
    if query.paginate == "keyset":
        # The next page starts after the last row of this one, by the same total order.
        keys = [c for c, _ in query.order_by] + (
            [projection.key] if projection.key not in dict(query.order_by) else []
        )
        op = ">" if query.order_by[0][1] == "asc" else "<"
        placeholders = ", ".join(f"%(after_{k})s" for k in keys)
        for key in keys:
            values[f"after_{key}"] = f"None if after is None else after.{key}"
        after_sql = head + " AND ".join([*where, f"({', '.join(keys)}) {op} ({placeholders})"]) + tail
    row = f"{pascal(projection.name)}Row"
    returns = f"{row} | None" if query.returns == "one" else f"list[{row}]"
    items = ["self", "tenant_id: str", *(["*"] if query.params else []), *map(_signature_item, query.params)]
    if after_sql is not None:
        items += ([] if query.params else ["*"]) + [f"after: {row} | None = None"]
    arguments = "{" + ", ".join(f"{json.dumps(p.name)}: {p.name}" for p in query.params) + "}"
    check = [f"_{pascal(query.name)}Params", json.dumps(query.name), arguments]
    return {
        "query": query,
        "definition": wrap(f"async def {query.name}(", items, f") -> {returns}:", 4),
        "check": wrap("params = _check(", check, ")", 8),
        "constant": "_" + query.name.upper(),
        "params": [declaration(p) for p in query.params],
        "param_names": list(params),
        "params_class": f"_{pascal(query.name)}Params",
        "row_class": row,
        "sql": sql,
        "after_sql": after_sql,
        "sql_params": values,
        "escape_like": escape,
        "one": query.returns == "one",
    }


def _signature_item(field: Field) -> str:
    """A query parameter in the method's signature: its plain type and its default."""
    text = f"{field.name}: {base_type(field.type)}{' | None' if field.optional else ''}"
    value = default(field)
    return text if value is None else f"{text} = {value}"


def _condition(
    item: dict[str, Any], values: dict[str, str], params: dict[str, Field], types: dict[str, str]
) -> tuple[str, bool]:
    """A filter as SQL. A condition on an optional parameter holds when the parameter is None."""
    if "any" in item:
        parts = [_condition(sub, values, params, types) for sub in item["any"]]
        return "(" + " OR ".join(p for p, _ in parts) + ")", any(like for _, like in parts)
    clauses = []
    like = False
    for column, ops in item.items():
        for op, param in ops.items():
            optional = params[param].optional
            if op == "contains":
                name = f"{param}_contains"
                value = f'"%" + _escape_like(params.{param}) + "%"'
                values[name] = f"None if params.{param} is None else {value}" if optional else value
                clause = f"{column} ILIKE %({name})s"
                like = True
            else:
                name = param
                value = f"params.{param}"
                if params[param].type.kind == "enum":  # stored as its text
                    value = f"None if {value} is None else str({value})" if optional else f"str({value})"
                values[param] = value
                clause = f"{column} {_SQL_OPS[op]} %({param})s"
            # The cast tells PostgreSQL the parameter's type where IS NULL alone cannot.
            cast = "text" if op == "contains" else types[column]
            clauses.append(f"(%({name})s::{cast} IS NULL OR {clause})" if optional else clause)
    return " AND ".join(clauses), like


def sql_constant(name: str, text: str, width: int = 110) -> str:
    """`NAME = sql.SQL("...")`, split into implicitly concatenated lines the way ruff formats it."""
    return _constant(name, text, "sql.SQL", width)


def str_constant(name: str, text: str, width: int = 110) -> str:
    """`NAME = "..."`, split like sql_constant."""
    return _constant(name, text, "", width)


def _constant(name: str, text: str, call: str, width: int) -> str:
    one_line = f"{name} = {call}({json.dumps(text)})" if call else f"{name} = {json.dumps(text)}"
    if len(one_line) <= width:
        return one_line
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if len(json.dumps(candidate + " ")) + 4 > width and line:
            lines.append(line + " ")
            line = word
        else:
            line = candidate
    lines.append(line)
    body = "\n".join("    " + json.dumps(part) for part in lines)
    return f"{name} = {call}(\n{body}\n)"


def strings_tuple(items: list[str]) -> str:
    quoted = [json.dumps(i) for i in items]
    return "(" + ", ".join(quoted) + ("," if len(quoted) == 1 else "") + ")"


def custom_projections_view(domain: Domain) -> dict[str, Any] | None:
    """The stub module of hand-written projection handlers, or None when there are none."""
    imports = Imports()
    imports.add("psycopg", "AsyncConnection", "sql")
    imports.add("psycopg.rows", "TupleRow")
    imports.add("acci", "RecordedEvent")
    functions = []
    for projection in domain.projections:
        for event_name, handler in projection.handlers.items():
            if "custom" in handler:
                imports.add("..events", event_name)
                functions.append(
                    {
                        "name": custom_function(projection, event_name),
                        "event": event_name,
                        "projection": projection.name,
                    }
                )
    return {"imports": imports.render(), "functions": functions} if functions else None
