"""The HTTP routes: an overriding `http:` path names fields of the command (scalar, always given),
and no two routes of a domain share a method and a path (acci_gen.http_routes)."""

from __future__ import annotations

from acci_gen import http_routes
from acci_gen.model import Command, Domain
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context
from acci_gen.spec.loader import PathT


def check_http(ctx: Context, commands: dict[str, lang.Command], domain: Domain) -> None:
    usable: list[Command] = []
    for command in domain.commands:
        spec = commands.get(command.name)
        if spec is None or spec.http is None:
            usable.append(command)
            continue
        if _check_override(ctx, command, ("commands", command.name, "http", "path")):
            usable.append(command)
    if not all(domain.aggregate(c.aggregate) is not None for c in domain.commands):
        return  # a command of an unknown aggregate was reported already; it has no route
    seen: dict[tuple[str, str], http_routes.Route] = {}
    for route in http_routes.routes(domain):
        if route.kind == "command" and domain.command(route.name) not in usable:
            continue
        first = seen.setdefault(route.key, route)
        if first is route:
            continue
        # Report it where it can be changed: at an override if either route is one.
        there, other = (
            (first, route)
            if _overridden(first, commands) and not _overridden(route, commands)
            else (route, first)
        )
        ctx.error(
            _where(there, commands),
            f"the HTTP route {there.method} {http_routes.prefix(domain)}{there.path} of {there.kind} "
            f"'{there.name}' is also the route of {other.kind} '{other.name}'.",
            "give the command another path with 'http: {method: POST, path: \"/...\"}' (docs/http-api.md).",
        )


def _overridden(route: http_routes.Route, commands: dict[str, lang.Command]) -> bool:
    return route.kind == "command" and route.name in commands and commands[route.name].http is not None


def _where(route: http_routes.Route, commands: dict[str, lang.Command]) -> PathT:
    if _overridden(route, commands):
        return ("commands", route.name, "http", "path")
    section = {"command": "commands", "query": "queries"}.get(route.kind, "aggregates")
    return (section, route.name)


def _check_override(ctx: Context, command: Command, path: PathT) -> bool:
    assert command.http is not None
    problem = http_routes.path_problem(command.http.path)
    if problem is not None:
        ctx.error(path, f"{problem}.", 'write a path like "/accounts/{account_id}/withdrawals" (quoted).')
        return False
    ok = True
    for name in http_routes.parameters(command.http.path):
        field = command.field(name)
        if field is None:
            known = ", ".join(f.name for f in command.fields) or "none"
            ctx.error(
                path,
                f"'{{{name}}}' is not a field of command {command.name} (its fields: {known}).",
                "name one of its fields in braces, or write the segment without braces.",
            )
            ok = False
        elif field.type.kind in ("object", "list") or field.optional:
            what = "optional" if field.optional else f"of type {field.type.text}"
            ctx.error(
                path,
                f"the field '{name}' is {what}: a path parameter is one value that is always given.",
                "send it in the body instead: leave it out of the path.",
            )
            ok = False
    return ok
