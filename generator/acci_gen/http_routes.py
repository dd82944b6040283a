"""The HTTP routes of a domain's generated API (`<domain>/api.py`), by one convention.

Every route of a domain is below `/<domain>` (kebab-case). For each aggregate, its collection is
its name in kebab-case and plural (`OrderLine` -> `/order-lines`), and its item the collection
with its identity (`/order-lines/{order_line_id}`):

- `GET <item>`: the aggregate's state (its version is the ETag);
- `GET <item>/events`: its event history, a page at a time;
- a command: `POST <item>` when it is the aggregate's only command that creates it
  (precondition must_not_exist), else `POST <item>/<command-kebab>` (`/orders/{order_id}/place-order`);
  `http: {method, path}` on the command overrides this;
- a query: `GET /queries/<query-kebab>`.

The check stage (acci_gen.spec.checks.http) validates overrides and refuses two routes with the
same method and path; the emitter writes these routes; docs/http-api.md describes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from acci_gen import names
from acci_gen.model import Aggregate, Command, Domain

#: The methods a command's route may have.
COMMAND_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: A path parameter: `{name}` in a path.
PARAMETER = re.compile(r"\{([^{}]*)\}")
#: A literal path segment.
SEGMENT = re.compile(r"^[a-z0-9][a-z0-9._~-]*$")
#: The longest path an override may have.
MAX_PATH = 200


def kebab(name: str) -> str:
    """PascalCase or snake_case as kebab-case."""
    return names.snake(name).replace("_", "-") if name[:1].isupper() else name.replace("_", "-")


def plural(word: str) -> str:
    """English plural of the last word (enough for names of things)."""
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


def prefix(domain: Domain) -> str:
    return "/" + kebab(domain.name)


def collection(aggregate: Aggregate) -> str:
    return "/" + plural(kebab(aggregate.name))


def item(aggregate: Aggregate) -> str:
    return f"{collection(aggregate)}/{{{aggregate.identity}}}"


def parameters(path: str) -> list[str]:
    return PARAMETER.findall(path)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below the domain's prefix
    kind: str  # "command", "query", "state" or "history"
    name: str  # the command, query or aggregate

    @property
    def key(self) -> tuple[str, str]:
        """What two routes must not share: the method and the path with parameters unnamed."""
        return self.method, PARAMETER.sub("{}", self.path)


def command_route(domain: Domain, command: Command) -> Route:
    if command.http is not None:
        return Route(command.http.method, command.http.path, "command", command.name)
    aggregate = domain.aggregate(command.aggregate)
    assert aggregate is not None
    creators = [
        c for c in domain.commands if c.aggregate == aggregate.name and c.precondition == "must_not_exist"
    ]
    if command.precondition == "must_not_exist" and len(creators) == 1:
        return Route("POST", item(aggregate), "command", command.name)
    return Route("POST", f"{item(aggregate)}/{kebab(command.name)}", "command", command.name)


def query_route(name: str) -> Route:
    return Route("GET", f"/queries/{kebab(name)}", "query", name)


def routes(domain: Domain) -> list[Route]:
    """Every route of the domain, in the order of the domain file's sections."""
    found = []
    for aggregate in domain.aggregates:
        found.append(Route("GET", item(aggregate), "state", aggregate.name))
        found.append(Route("GET", f"{item(aggregate)}/events", "history", aggregate.name))
    found += [command_route(domain, command) for command in domain.commands]
    found += [query_route(query.name) for query in domain.queries]
    return found


def path_problem(path: str) -> str | None:
    """What is wrong with an overriding path's syntax, or None."""
    if not path.startswith("/"):
        return "the path must start with '/'"
    if len(path) > MAX_PATH:
        return f"the path must be at most {MAX_PATH} characters long"
    if path != "/" and path.endswith("/"):
        return "the path must not end with '/'"
    for segment in path[1:].split("/"):
        if segment == "":
            return "the path has an empty segment ('//')"
        match = PARAMETER.fullmatch(segment)
        if match is not None:
            if not names.SNAKE_RE.match(match[1]):
                return f"'{{{match[1]}}}' must name a command field in snake_case"
        elif not SEGMENT.match(segment):
            return (
                f"the segment '{segment}' must be lower-case letters, digits and . _ ~ -, or one "
                "{field} parameter"
            )
    found = parameters(path)
    if len(set(found)) != len(found):
        return "a parameter appears twice in the path"
    return None
