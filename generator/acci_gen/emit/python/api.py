"""The domain's HTTP API: `<domain>/api.py`, a FastAPI router of its commands, queries and
aggregates, with the routes of acci_gen.http_routes. The view is the data its template reads."""

from __future__ import annotations

from typing import Any

from acci_gen import http_routes, names
from acci_gen.emit.python.pytypes import base_type, declaration
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_docstring, py_str
from acci_gen.model import Domain, Query


def render_api(domain: Domain, header: Code) -> str:
    return render("api.py.jinja2", header=header, domain=domain, **api_view(domain))


def api_view(domain: Domain) -> dict[str, Any]:
    aggregates = []
    for aggregate in domain.aggregates:
        identity = aggregate.field(aggregate.identity)
        assert identity is not None
        aggregates.append(
            {
                "name": aggregate.name,
                "snake": names.snake(aggregate.name),
                "state": names.state_class(aggregate.name),
                "identity": aggregate.identity,
                "identity_type": base_type(identity.type),
                "item": py_str(http_routes.item(aggregate)),
                "events": py_str(f"{http_routes.item(aggregate)}/events"),
                "tag": py_str(aggregate.name),
                "summary": py_str(f"The current state of the {aggregate.name}"),
                "history_summary": py_str(f"The events of the {aggregate.name}, oldest first"),
                "operation": py_str(f"get_{aggregate.name}"),
                "history_operation": py_str(f"get_{aggregate.name}_events"),
            }
        )
    commands = []
    for command in domain.commands:
        route = http_routes.command_route(domain, command)
        in_path = http_routes.parameters(route.path)
        body_fields = [f for f in command.fields if f.name not in in_path]
        if not in_path:
            body: str | None = command.name
        elif body_fields:
            body = f"{command.name}Body"
        else:
            body = None
        commands.append(
            {
                "name": command.name,
                "function": f"command_{names.snake(command.name)}",
                "handler": names.handler_class(command.name),
                "method": route.method.lower(),
                "path": py_str(route.path),
                "tag": py_str(command.aggregate),
                "summary": py_str(command.description or f"Send {command.name}"),
                "operation": py_str(command.name),
                "body": body,
                "body_class": body if body is not None and body != command.name else None,
                "body_doc": py_docstring(f"The body of {command.name}: its fields but {', '.join(in_path)}."),
                "body_fields": [declaration(f) for f in body_fields],
                "path_parameters": [
                    Code(f"{name}: {base_type(field.type)}")
                    for name in in_path
                    if (field := command.field(name)) is not None
                ],
                "path_arguments": [Code(f"{name}={name}") for name in in_path],
                "existing": command.precondition == "must_exist",
            }
        )
    queries = [_query_view(domain, query) for query in domain.queries]
    return {
        "prefix": py_str(http_routes.prefix(domain)),
        "api_aggregates": aggregates,
        "api_commands": commands,
        "api_queries": queries,
        "queries_class": names.queries_class(domain.name),
        "domain_types": [t.name for t in domain.types],
        "domain_commands": [c.name for c in domain.commands],
        "domain_aggregates": [a.name for a in domain.aggregates],
        "states": [names.state_class(a.name) for a in domain.aggregates],
        "handlers": [names.handler_class(c.name) for c in domain.commands],
        "rows": sorted({names.row_class(q.projection) for q in domain.queries}),
        "parameter_classes": [names.parameters_class(q.name) for q in domain.queries],
    }


def _query_view(domain: Domain, query: Query) -> dict[str, Any]:
    keyset = query.paginate == "keyset"
    if isinstance(query.limit, str):
        limit = Code(f"_params.{query.limit}")
    elif isinstance(query.limit, int):
        limit = Code(str(query.limit))
    else:
        limit = Code("None")
    row = names.row_class(query.projection)
    if query.returns == "one":
        response = Code(row)
    elif keyset:
        response = Code(f"_http.Page[{row}]")
    else:
        response = Code(f"_http.Items[{row}]")
    parameters = names.parameters_class(query.name)
    return {
        "name": query.name,
        "name_str": py_str(query.name),
        "function": f"query_{query.name}",
        "path": py_str(http_routes.query_route(query.name).path),
        "summary": py_str(query.description or f"The query {query.name}"),
        "operation": py_str(query.name),
        "projection": py_str(query.projection),
        "parameters": parameters,
        "page_class": f"{parameters}Page" if keyset else None,
        "params_class": f"{parameters}Page" if keyset else parameters,
        "cursor": names.HTTP_CURSOR,
        "keyset": keyset,
        "one": query.returns == "one",
        "limit": limit,
        "row": row,
        "response": response,
    }
