"""The generated read-model tests as data: a case per projection handler (the rows it leaves), per
inline projection, and per query; acci.testing runs them."""

from __future__ import annotations

from typing import Any

from acci_gen import names
from acci_gen.emit.python.readmodels import effective_handlers
from acci_gen.emit.python.samples import sample, sample_data
from acci_gen.emit.python.tests import SharedData
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_str, py_value
from acci_gen.model import Domain, Event, NamedType, Projection, Query

#: Column types a test compares (jsonb columns are left to the projection's own logic).
_CHECKED_KINDS = ("string", "email", "int", "decimal", "bool", "uuid", "date", "datetime", "enum")


def render_readmodel_tests(domain: Domain, header: Code) -> str:
    types = {t.name: t for t in domain.types}
    shared = SharedData()
    for event in domain.events:
        shared.see(_sample(event, types), _sample(event, types))  # every sample once, as a constant
    for projection in domain.projections:
        for _, seen, _ in projection.scenarios:
            shared.see(*({event: data} for event, data in seen))
    projection_cases: list[Code] = []
    query_cases: list[Code] = []
    streams: set[str] = set()
    for projection in domain.projections:
        for event_name, handler in effective_handlers(projection).items():
            if "when" in handler:
                continue  # a sample may not meet the condition: the projection's scenarios show it
            case, used = _handler_case(domain, projection, event_name, handler, types, shared)
            projection_cases.append(case)
            streams.update(used)
        for name, story, story_rows in projection.scenarios:
            events = [{event: data} for event, data in story]
            projection_cases.append(
                _case(f"{projection.name}_{name}", projection, events, story_rows, shared)
            )
            streams.update(event for event, _ in story)
        creator = _creating_event(projection)
        if projection.inline and creator is not None:
            event = _event(domain, creator)
            rows = [_expected_row(projection.handlers[creator], event, types)]
            given = [_sample(event, types)]
            projection_cases.append(
                _case(f"{projection.name}_inline", projection, given, rows, shared, inline=True)
            )
            streams.add(creator)
    for query in domain.queries:
        projection = next(p for p in domain.projections if p.name == query.projection)
        query_cases.append(_query_case(domain, projection, query, types, shared))
        creator = _creating_event(projection)
        if creator is not None:
            streams.add(creator)
    stream_items = []
    for event_name in sorted(streams):
        event = _event(domain, event_name)
        aggregate = domain.aggregate(event.aggregate)
        assert aggregate is not None
        stream_items.append(
            Code(f"{py_str(event_name)}: ({py_str(aggregate.name)}, {py_str(aggregate.identity)})")
        )
    return render(
        "test_read_models.py.jinja2",
        header=header,
        domain=domain,
        projection_classes=[names.projection_class(p.name) for p in domain.projections],
        queries_class=names.queries_class(domain.name),
        streams=stream_items,
        constants=shared.constants,
        projection_cases=projection_cases,
        query_cases=query_cases,
    )


def _event(domain: Domain, name: str) -> Event:
    event = domain.event(name)
    assert event is not None
    return event


def _creating_event(projection: Projection) -> str | None:
    """An event whose handler inserts (or upserts) the projection's row."""
    return next((n for n, h in projection.handlers.items() if "insert" in h or "upsert" in h), None)


def _sample(event: Event, types: dict[str, NamedType]) -> dict[str, Any]:
    return {event.name: sample_data(event.fields, types)}


def _case(
    name: str,
    projection: Projection,
    given: list[Any],
    rows: list[dict[str, Any]] | None,
    shared: SharedData,
    *,
    inline: bool = False,
) -> Code:
    parts = [
        py_str(name),
        Code(f"{names.projection_class(projection.name)}()"),
        Code(f"given={shared.refs(given)}"),
    ]
    if rows is not None:
        parts.append(Code(f"rows={py_value(rows)}"))
    if inline:
        parts.append(Code("inline=True"))
    return Code(f"ProjectionCase({', '.join(parts)})")


def _handler_case(
    domain: Domain,
    projection: Projection,
    event_name: str,
    handler: dict[str, Any],
    types: dict[str, NamedType],
    shared: SharedData,
) -> tuple[Code, set[str]]:
    event = _event(domain, event_name)
    creator = _creating_event(projection)
    action = next(a for a in ("insert", "upsert", "update", "delete", "custom") if a in handler)
    given = [_sample(event, types)]
    used = {event_name}
    if action in ("update", "delete", "custom") and creator is not None and creator != event_name:
        given.insert(0, _sample(_event(domain, creator), types))
        used.add(creator)
    rows: list[dict[str, Any]] | None
    if action == "custom":
        rows = None  # hand-written: the test checks that the event changed the rows
    elif action == "delete":
        rows = []
    else:
        rows = [_expected_row(handler, event, types)]
    name = f"{projection.name}_on_{names.snake(event_name)}"
    return _case(name, projection, given, rows, shared), used


def _expected_row(handler: dict[str, Any], event: Event, types: dict[str, NamedType]) -> dict[str, Any]:
    """The columns the handler sets from the event's sample (or literals), as JSON."""
    action = next(a for a in ("insert", "upsert", "update") if a in handler)
    data = sample_data(event.fields, types)
    row = {}
    for column, spec in handler[action].items():
        if isinstance(spec, dict):
            if "value" in spec:  # computed values (add, coalesce...) are left to the scenarios
                row[column] = spec["value"]
            continue
        source, name = str(spec).split(".", 1)
        field = event.field(name) if source == "event" else None
        if field is not None and field.type.kind in _CHECKED_KINDS:
            row[column] = data[name]
    return row


def _query_case(
    domain: Domain, projection: Projection, query: Query, types: dict[str, NamedType], shared: SharedData
) -> Code:
    creator = _creating_event(projection)
    given = [_sample(_event(domain, creator), types)] if creator is not None else []
    parameters = {p.name: sample(p, types) for p in query.params}
    parts = [
        py_str(query.name),
        Code(f"{names.projection_class(projection.name)}()"),
        Code(f"given={shared.refs(given)}"),
        Code(f"parameters={py_value(parameters)}"),
    ]
    keyed = (
        len(query.filters) == 1 and isinstance(query.filters[0], dict) and projection.key in query.filters[0]
    )
    if query.returns == "one" and creator is not None and keyed:
        parts.append(Code("finds_row=True"))
    return Code(f"QueryCase({', '.join(parts)})")
