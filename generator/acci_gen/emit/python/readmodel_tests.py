"""The generated read-model tests: one per projection handler and one per query."""

from __future__ import annotations

import json
from typing import Any

from acci_gen.emit.python.exprs import Imports
from acci_gen.emit.python.pytypes import literal, validate_call
from acci_gen.emit.python.readmodels import effective_handlers, pascal, wrap
from acci_gen.emit.python.samples import sample, sample_data
from acci_gen.model import Domain, Event, Projection, Query

_CHECKED_KINDS = ("string", "email", "int", "decimal", "bool", "uuid", "date", "datetime", "enum")


def tests_view(domain: Domain) -> dict[str, Any]:
    imports = Imports()
    imports.add("collections.abc", "AsyncIterator")
    imports.add("pytest_asyncio")
    imports.add("acci", "PostgresEventStore")
    imports.add("acci.testing", "append_to", "table_rows")
    imports.add("acci.migrations", "migrate")
    imports.add("acci.projections", "ProjectionRunner")
    imports.add("..service", "migrations")
    types = {t.name: t for t in domain.types}
    tests: list[dict[str, Any]] = []
    for projection in domain.projections:
        imports.add("..projections", f"{pascal(projection.name)}Projection")
        for event_name, handler in effective_handlers(projection).items():
            tests.append(_handler_test(domain, projection, event_name, handler, types, imports))
        if projection.inline:
            tests.append(_inline_test(domain, projection, types, imports))
    for query in domain.queries:
        projection = next(p for p in domain.projections if p.name == query.projection)
        tests.append(_query_test(domain, projection, query, types, imports))
    return {"imports": imports.render(), "tests": [t for t in tests if t]}


def _event(domain: Domain, name: str) -> Event:
    return next(e for e in domain.events if e.name == name)


def _creating_event(domain: Domain, projection: Projection) -> str | None:
    """An event whose handler inserts (or upserts) the projection's row."""
    for name, handler in projection.handlers.items():
        if "insert" in handler or "upsert" in handler:
            return name
    return None


def _construct(domain: Domain, event: Event, types: dict[str, Any], imports: Imports, var: str) -> list[str]:
    imports.add("..events", event.name)
    data = sample_data(event.fields, types)
    return [f"{var} = {validate_call(event.name, data, 4)}"]


def _append(domain: Domain, event: Event, variables: list[str]) -> str:
    aggregate = next(a for a in domain.aggregates if a.name == event.aggregate)
    has_identity = any(f.name == aggregate.identity for f in event.fields)
    ident = f"str({variables[0]}.{aggregate.identity})" if has_identity else json.dumps("sample-1")
    return f"await append_to(store, TENANT, {json.dumps(aggregate.name)}, {ident}, {', '.join(variables)})"


def _expected(spec: Any, var: str, event: Event) -> str | None:
    """The Python value a column should hold after `spec` was applied, or None to not check it."""
    if isinstance(spec, dict):
        return literal(spec["value"])
    source, name = str(spec).split(".", 1)
    if source != "event":
        return None
    field = event.field(name)
    if field is None or field.type.kind not in _CHECKED_KINDS:
        return None
    return f"str({var}.{name})" if field.type.kind == "enum" else f"{var}.{name}"


def _handler_test(
    domain: Domain,
    projection: Projection,
    event_name: str,
    handler: dict[str, Any],
    types: dict[str, Any],
    imports: Imports,
) -> dict[str, Any]:
    event = _event(domain, event_name)
    lines: list[str] = []
    variables = []
    creator = _creating_event(domain, projection)
    action = next(a for a in ("insert", "upsert", "update", "delete", "custom") if a in handler)
    if action == "custom":
        return _custom_handler_test(domain, projection, event, creator, types, imports)
    if action in ("update", "delete") and creator is not None and creator != event_name:
        lines += _construct(domain, _event(domain, creator), types, imports, "created")
        lines.append(_append(domain, _event(domain, creator), ["created"]))
        variables.append("created")
    lines += _construct(domain, event, types, imports, "event")
    lines.append(_append(domain, event, ["event"]))
    runner = f"{pascal(projection.name)}Projection()"
    lines.append(f"await ProjectionRunner(store, {runner}).catch_up()")
    lines.append(f"rows = await table_rows(store, {json.dumps(projection.table)}, TENANT)")
    if action == "delete":
        lines.append("assert rows == []")
    else:
        lines.append("assert len(rows) == 1")
        for column, spec in handler[action].items():
            expected = _expected(spec, "event", event)
            field = event.field(str(spec).split(".", 1)[1]) if isinstance(spec, str) else None
            if expected is None or (action == "update" and field is not None and field.optional):
                if action == "update" and expected is not None:
                    lines.append(f"if event.{field.name if field else column} is not None:")
                    lines.append(f"    assert rows[0][{json.dumps(column)}] == {expected}")
                continue
            lines.append(f"assert rows[0][{json.dumps(column)}] == {expected}")
    name = f"test_{projection.name}_on_{_snake(event_name)}"
    return {"name": name, "lines": lines}


def _inline_test(
    domain: Domain, projection: Projection, types: dict[str, Any], imports: Imports
) -> dict[str, Any]:
    """An inline projection's row exists as soon as the append returns, with no runner."""
    creator = _creating_event(domain, projection)
    lines: list[str] = []
    if creator is None:
        return {}
    cls = f"{pascal(projection.name)}Projection"
    lines.append(f"projection = {cls}()")
    lines.append(
        "async with await PostgresEventStore.open(store.conninfo, projections=[projection]) as inline:"
    )
    for line in _construct(domain, _event(domain, creator), types, imports, "created"):
        lines.append("    " + line.replace("\n", "\n    "))
    lines.append(
        "    "
        + _append(domain, _event(domain, creator), ["created"]).replace("append_to(store", "append_to(inline")
    )
    lines.append(f"assert len(await table_rows(store, {json.dumps(projection.table)}, TENANT)) == 1")
    return {"name": f"test_{projection.name}_is_updated_inline", "lines": lines}


def _custom_handler_test(
    domain: Domain,
    projection: Projection,
    event: Event,
    creator: str | None,
    types: dict[str, Any],
    imports: Imports,
) -> dict[str, Any]:
    """A hand-written handler: it must run (an unwritten stub fails with its name)."""
    imports.add("acci.projections", "RunnerSettings")
    lines: list[str] = []
    if creator is not None and creator != event.name:
        lines += _construct(domain, _event(domain, creator), types, imports, "created")
        lines.append(_append(domain, _event(domain, creator), ["created"]))
    lines += _construct(domain, event, types, imports, "event")
    lines.append(_append(domain, event, ["event"]))
    settings = "RunnerSettings(fail_fast=True)"  # raise the handler's error instead of parking it
    lines.append(
        f"await ProjectionRunner(store, {pascal(projection.name)}Projection(), {settings}).catch_up()"
    )
    return {"name": f"test_{projection.name}_on_{_snake(event.name)}", "lines": lines}


def _query_test(
    domain: Domain, projection: Projection, query: Query, types: dict[str, Any], imports: Imports
) -> dict[str, Any]:
    lines: list[str] = []
    creator = _creating_event(domain, projection)
    if creator is not None:
        lines += _construct(domain, _event(domain, creator), types, imports, "created")
        lines.append(_append(domain, _event(domain, creator), ["created"]))
        lines.append(f"await ProjectionRunner(store, {pascal(projection.name)}Projection()).catch_up()")
    handler = f"{pascal(domain.name)}Queries"
    imports.add("..queries", handler)
    arguments = [
        f"{p.name}={_python_value(sample(p, types), p.type.kind, imports, p.type.name)}" for p in query.params
    ]
    lines.append(f"queries = {handler}.of(store)")
    for var, tenant in (("mine", "TENANT"), ("theirs", "OTHER_TENANT")):
        items = [tenant, *arguments]
        lines.append(wrap(f"{var} = await queries.{query.name}(", items, ")", 4)[4:])
    if query.returns == "one":
        if creator is not None and _keyed_by_sample(query, projection):
            lines.append("assert mine is not None")
        lines.append("assert theirs is None")
    else:
        lines.append("assert isinstance(mine, list)")
        lines.append("assert theirs == []")
    return {"name": f"test_query_{query.name}", "lines": lines}


def _keyed_by_sample(query: Query, projection: Projection) -> bool:
    """True when the query filters by the key alone, which the sample event's row matches."""
    return any(isinstance(f, dict) and projection.key in f for f in query.filters) and len(query.filters) == 1


def _python_value(value: Any, kind: str, imports: Imports, type_name: str = "") -> str:
    if kind == "enum":
        imports.add("..events", type_name)
        return f"{type_name}({json.dumps(value)})"
    if kind == "uuid":
        imports.add("uuid", "UUID")
        return f"UUID({json.dumps(value)})"
    if kind == "decimal":
        imports.add("decimal", "Decimal")
        return f"Decimal({json.dumps(str(value))})"
    if kind in ("date", "datetime"):
        imports.add("datetime", kind)
        return f"{kind}.fromisoformat({json.dumps(value)})"
    return literal(value)


def _snake(name: str) -> str:
    out = ""
    for index, char in enumerate(name):
        if char.isupper() and index:
            out += "_"
        out += char.lower()
    return out
