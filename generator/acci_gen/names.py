"""Which names a domain file may use, in each context the generated code puts them.

No reserved name here is kept by hand. They come from where the generated code gets them:
Python's keywords and standard library, pydantic's BaseModel, PostgreSQL's key words (captured
from servers into pg_keywords.py), the modules and names the code templates import, and the names
each emitted construct introduces itself. Those last ones are declared in this module, the views
and templates that emit them use them from here, and the check stage asks the `*_problem`
functions below, so a name the output introduces is reserved the moment it is introduced.
"""

from __future__ import annotations

import keyword
import re
import sys
from collections.abc import Iterable, Iterator
from enum import StrEnum
from functools import cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from pydantic import BaseModel

from acci_gen.model import Domain
from acci_gen.pg_keywords import RESERVED as SQL_RESERVED

PASCAL_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: (message, fix) of a name that cannot be used.
Problem = tuple[str, str]

# -- names the emitted code introduces ------------------------------------------------------------

#: The column every read-model table has before the projection's own (the row's tenant), and the
#: first argument of every query method.
TENANT = "tenant_id"
#: The argument of a keyset-paged query method that names the last row of the previous page.
KEYSET_AFTER = "after"
#: The query-string parameter of a keyset-paged query's HTTP route that carries the page cursor.
HTTP_CURSOR = "cursor"
#: The arguments of every query method before the query's parameters.
QUERY_ARGUMENTS = ("self", TENANT)
#: What a generated query handler inherits from acci.queries.QueryHandler (a test compares this
#: with the class): a query of one of these names would hide it.
QUERY_HANDLER_ATTRIBUTES = ("fetch_all", "fetch_one", "of", "pool")
#: The class variables the runtime's DomainEvent and CommandData give every event and command
#: class (a test compares this with the classes): a field cannot take these names.
RUNTIME_CLASS_VARIABLES = ("command_type", "event_type", "schema_version")
#: The Python type each scalar type of the language is declared with in every generated class
#: (events, commands, states, objects, rows, parameters); a list of items is `list[<item type>]`.
PYTHON_TYPES = {
    "string": "str",
    "int": "int",
    "decimal": "Decimal",
    "bool": "bool",
    "uuid": "UUID",
    "date": "date",
    "datetime": "AwareDatetime",
    "email": "str",
}
#: The names the fields' annotations use for their types (and `datetime`, which the generated code
#: used to). A field of one of these names would hide the type from the annotations of the fields
#: after it: pydantic resolves them in the class's namespace, where the name is the field's default.
ANNOTATION_NAMES = frozenset({*PYTHON_TYPES.values(), "list", "datetime"})


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def state_class(aggregate: str) -> str:
    return f"{aggregate}State"


def handler_class(command: str) -> str:
    return f"{command}Handler"


def projection_class(projection: str) -> str:
    return f"{pascal(projection)}Projection"


def policy_class(policy: str) -> str:
    return f"{pascal(policy)}Policy"


def row_class(projection: str) -> str:
    return f"{pascal(projection)}Row"


def queries_class(domain: str) -> str:
    return f"{pascal(domain)}Queries"


def parameters_class(query: str) -> str:
    return f"_{pascal(query)}Parameters"


def decision_function(command: str) -> str:
    """The hand-written decision of a command, in custom/<snake name>.py."""
    return f"decide_{snake(command)}"


# -- names the emitted code imports ---------------------------------------------------------------

_FROM_IMPORT = re.compile(r"^\s*from (\.*)([\w.]*) import (.+)$")
_IMPORT = re.compile(r"^\s*import ([\w.]+)")
#: The kinds of the domain's own classes. A template has a kind's classes in scope (it defines or
#: imports them) when it reads the view variable of their names, `domain_<kind>s`.
KINDS = ("type", "event", "command", "aggregate")


def _imports(text: str) -> tuple[set[str], set[str]]:
    """(top-level modules, names bound) of the absolute imports in a template or module."""
    modules: set[str] = set()
    bound: set[str] = set()
    for line in text.splitlines():
        found = _FROM_IMPORT.match(line)
        if found is not None:
            dots, module, items = found.groups()
            if not dots:
                modules.add(module.split(".")[0])
                bound.update(name for item in items.split(",") if (name := _bound_name(item)).isidentifier())
        elif (plain := _IMPORT.match(line)) is not None:
            modules.add(plain.group(1).split(".")[0])
    return modules, bound


def _bound_name(item: str) -> str:
    """The name an imported item binds: `X`, or `Y` of `X as Y`."""
    return item.split(" as ")[-1].strip().strip("()")


@cache
def template_imports() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """(the top-level modules the code templates import, by kind the names they import into a
    module that has the domain's classes of that kind in scope)."""
    modules: set[str] = set()
    by_kind: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for template in (resources.files("acci_gen") / "templates").iterdir():
        if template.name.endswith(".jinja2"):
            text = template.read_text(encoding="utf-8")
            imported_modules, bound = _imports(text)
            modules |= imported_modules
            for kind in KINDS:
                if f"domain_{kind}s" in text:
                    by_kind[kind] |= bound
    return frozenset(modules), {kind: frozenset(found) for kind, found in by_kind.items()}


@cache
def template_names(template: str) -> frozenset[str]:
    """The names one code template imports into its module (`integration.py.jinja2`: the classes
    it declares must not take them)."""
    text = (resources.files("acci_gen") / "templates" / template).read_text(encoding="utf-8")
    return frozenset(_imports(text)[1])


@cache
def runtime_imports() -> frozenset[str]:
    """The top-level modules the runtime imports (generated code runs on it), read from its source
    without importing it."""
    spec = find_spec("acci")
    modules: set[str] = set()
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for path in Path(folder).rglob("*.py"):
            modules |= _imports(path.read_text(encoding="utf-8"))[0]
    return frozenset(modules)


def module_reserved() -> frozenset[str]:
    """Module names a domain package must not take: it sits on sys.path next to the standard
    library, the modules the generated code and the runtime import, the generator, and pytest's
    own test packages and conftest."""
    extra = {"acci", "acci_gen", "tests", "test", "conftest"}
    return frozenset(sys.stdlib_module_names) | template_imports()[0] | runtime_imports() | extra


#: Attributes of pydantic's BaseModel (every event, command, state, object and row class is one)
#: and the class variables of the runtime's bases.
MODEL_RESERVED = frozenset(n for n in dir(BaseModel) if not n.startswith("_")) | set(RUNTIME_CLASS_VARIABLES)


@cache
def enum_reserved() -> frozenset[str]:
    """Member names Python's Enum refuses (found by asking it)."""
    refused = set()
    for name in {*dir(StrEnum), *dir(type(StrEnum))}:  # the metaclass's names (mro) too
        if SNAKE_RE.match(name):
            try:
                StrEnum("Probe", {name: name})
            except ValueError:
                refused.add(name)
    return frozenset(refused)


# -- the checks -------------------------------------------------------------------------------------


def snake_problem(name: str, what: str, *, sql: bool = True) -> Problem | None:
    """(message, fix) when `name` is not a usable snake_case Python and SQL name."""
    if not SNAKE_RE.match(name):
        fixed = re.sub(r"[^a-z0-9_]", "_", re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()).strip("_")
        hint = f" such as '{fixed}'" if fixed and SNAKE_RE.match(fixed) else ""
        return (
            f"'{name}' is not a valid {what} name: use snake_case (a lower-case letter, then lower-case "
            "letters, digits and '_').",
            f"rename it{hint}.",
        )
    if len(name) > 63:
        return (f"'{name}' is too long for a {what} name (PostgreSQL keeps 63 characters).", "shorten it.")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return (f"'{name}' is a Python keyword and cannot be a {what} name.", f"rename it, e.g. '{name}_'.")
    if sql and name in SQL_RESERVED:
        return (
            f"'{name}' is a reserved word in PostgreSQL and cannot be a {what} name.",
            f"rename it, e.g. '{name}_name' or a more specific word.",
        )
    return None


def field_problem(name: str, what: str = "field", *, sql: bool = True) -> Problem | None:
    problem = snake_problem(name, what, sql=sql)
    if problem is not None:
        return problem
    if name in ("date", "datetime"):
        return (
            f"'{name}' would hide the type {name} in the generated classes; it cannot be a {what} name.",
            f"rename it to say which {name} it is, e.g. 'due_{name}' or 'created_on'.",
        )
    if name in ANNOTATION_NAMES:
        return (
            f"'{name}' would hide the type {name} in the generated classes; it cannot be a {what} name.",
            f"rename it to say what it holds, e.g. '{name}_value' or a more specific word.",
        )
    if name.startswith("model_") or name in MODEL_RESERVED:
        return (
            f"'{name}' is reserved by pydantic or the ACCI runtime and cannot be a {what} name.",
            "rename it to something more specific.",
        )
    return None


def pascal_problem(name: str, what: str) -> Problem | None:
    if not PASCAL_RE.match(name):
        fixed = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)
        hint = f" such as '{fixed}'" if fixed and PASCAL_RE.match(fixed) else ""
        return (
            f"'{name}' is not a valid {what} name: use PascalCase (an upper-case letter, then letters "
            "and digits).",
            f"rename it{hint}.",
        )
    kind = what if what in KINDS else None
    imported = template_imports()[1]
    taken = imported[kind] if kind is not None else frozenset().union(*imported.values())
    if name in taken or keyword.iskeyword(name):
        return (
            f"'{name}' is a name the generated code uses itself and cannot be a {what} name.",
            f"rename it, e.g. '{name}Item'.",
        )
    return None


def module_problem(name: str) -> Problem | None:
    problem = snake_problem(name, "domain")
    if problem is not None:
        return problem
    if name in module_reserved():
        return (
            f"'{name}' would shadow the module '{name}' when the generated package is imported.",
            f"rename the domain, e.g. '{name}_domain'.",
        )
    return None


def enum_value_problem(name: str) -> Problem | None:
    problem = snake_problem(name, "enum value")
    if problem is not None:
        return problem
    if name in enum_reserved():
        return (
            f"'{name}' cannot be an enum value: Python's Enum keeps the name for itself.",
            f"rename the value, e.g. '{name}_value'.",
        )
    return None


def query_problem(name: str) -> Problem | None:
    problem = snake_problem(name, "query")
    if problem is not None:
        return problem
    if name in QUERY_HANDLER_ATTRIBUTES:
        return (
            f"'{name}' is a method every generated query handler has already; a query of that name "
            "would hide it.",
            f"rename the query, e.g. 'find_{name}'.",
        )
    return None


def column_problems(columns: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(column, message, fix) of each projection column the generated table has already."""
    for name in columns:
        if name == TENANT:
            yield (
                name,
                f"'{name}' is a column every read-model table has already: the tenant of the row.",
                f"remove the column (every row keeps its tenant), or rename it, e.g. 'owner_{name}'.",
            )


def parameter_problems(parameters: Iterable[str], *, keyset: bool) -> Iterator[tuple[str, str, str]]:
    """(parameter, message, fix) of each query parameter the query method has as an argument
    already (`after` too, when the query pages by keyset, and `cursor`, its HTTP route's)."""
    taken = {*QUERY_ARGUMENTS, KEYSET_AFTER, HTTP_CURSOR} if keyset else set(QUERY_ARGUMENTS)
    for name in parameters:
        if name in taken:
            reason = {
                "self": "the query method's own first argument",
                TENANT: "the tenant every query is scoped to, the query method's first argument",
                KEYSET_AFTER: "the argument that names the last row of the previous page (paginate: keyset)",
                HTTP_CURSOR: "the HTTP route's page cursor (paginate: keyset)",
            }[name]
            yield (
                name,
                f"'{name}' cannot be a query parameter: it is {reason}.",
                f"rename the parameter, e.g. '{name}_value'.",
            )


#: The section of the domain file each kind of class is declared in.
_SECTIONS = {"type": "types", "event": "events", "command": "commands", "aggregate": "aggregates"}


def generated_class_problems(domain: Domain) -> Iterator[tuple[tuple[str, str], str, str]]:
    """((section, name), message, fix) for each item whose name a class the generated code derives
    from another item takes: a domain class in a module where both are in scope, or two
    projections (or queries) whose names give one class name."""
    kinds = {t.name: "type" for t in domain.types} | {e.name: "event" for e in domain.events}
    kinds |= {c.name: "command" for c in domain.commands} | {a.name: "aggregate" for a in domain.aggregates}
    derived: list[tuple[str, tuple[str, str], tuple[str, ...]]] = []
    for projection in domain.projections:
        where = ("projections", projection.name)
        derived.append((projection_class(projection.name), where, ("event",)))
        derived.append((row_class(projection.name), where, ("type",)))
    derived += [(parameters_class(q.name), ("queries", q.name), ()) for q in domain.queries]
    if domain.projections:
        derived.append((queries_class(domain.name), ("domain", domain.name), ("type",)))
    seen: dict[str, tuple[str, str]] = {}
    for class_name, (section, item), scope in derived:
        kind = kinds.get(class_name)
        if kind in scope:
            yield (
                (_SECTIONS[kind], class_name),
                f"'{class_name}' is also the name the generated code gives the class of {section[:-1]} "
                f"'{item}', in a module where this {kind} is in scope.",
                f"rename the {kind}, e.g. '{class_name}Item'.",
            )
        first = seen.setdefault(class_name, (section, item))
        if first != (section, item) and first[0] == section:
            yield (
                (section, item),
                f"'{item}' and '{first[1]}' both become the class '{class_name}' in the generated code.",
                f"rename one of them (underscores are dropped: '{item}' reads as '{class_name}').",
            )
