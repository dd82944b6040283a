"""Which names the language accepts: Python and SQL identifiers that are not reserved words."""

from __future__ import annotations

import keyword
import re
import sys

PASCAL_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: PostgreSQL's reserved key words (and those that cannot be column names), lower case.
SQL_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    ]
)

#: Attribute names of pydantic's BaseModel and the runtime's ClassVars a field must not shadow.
MODEL_RESERVED = frozenset(
    [
        "construct",
        "copy",
        "dict",
        "fields",
        "from_orm",
        "json",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
        "event_type",
        "schema_version",
        "command_type",
    ]
)

#: Names the generated modules use for themselves; a domain item must not take them.
CLASS_RESERVED = frozenset(
    [
        "Aggregate",
        "Annotated",
        "AwareDatetime",
        "BaseModel",
        "ClassVar",
        "Command",
        "CommandData",
        "CommandHandler",
        "CommandMetadata",
        "CommandRejected",
        "ConfigDict",
        "Decimal",
        "DomainEvent",
        "EventRegistry",
        "Field",
        "Literal",
        "NewEvent",
        "Precondition",
        "Sequence",
        "StrEnum",
        "StreamId",
        "UUID",
    ]
)

#: Module names a domain package must not shadow.
MODULE_RESERVED = frozenset(
    {"acci", "acci_gen", "pydantic", "psycopg", "pytest", "tests", "test", "conftest"}
)


def snake_problem(name: str, what: str, *, sql: bool = True) -> tuple[str, str] | None:
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


def field_problem(name: str, what: str = "field", *, sql: bool = True) -> tuple[str, str] | None:
    problem = snake_problem(name, what, sql=sql)
    if problem is not None:
        return problem
    if name in ("date", "datetime"):
        return (
            f"'{name}' would hide the type {name} in the generated classes; it cannot be a {what} name.",
            f"rename it to say which {name} it is, e.g. 'due_{name}' or 'created_on'.",
        )
    if name.startswith("model_") or name in MODEL_RESERVED:
        return (
            f"'{name}' is reserved by pydantic or the ACCI runtime and cannot be a {what} name.",
            "rename it to something more specific.",
        )
    return None


def pascal_problem(name: str, what: str) -> tuple[str, str] | None:
    if not PASCAL_RE.match(name):
        fixed = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)
        hint = f" such as '{fixed}'" if fixed and PASCAL_RE.match(fixed) else ""
        return (
            f"'{name}' is not a valid {what} name: use PascalCase (an upper-case letter, then letters "
            "and digits).",
            f"rename it{hint}.",
        )
    if name in CLASS_RESERVED or keyword.iskeyword(name):
        return (
            f"'{name}' is a name the generated code uses itself and cannot be a {what} name.",
            f"rename it, e.g. '{name}Item'.",
        )
    return None


def module_problem(name: str) -> tuple[str, str] | None:
    problem = snake_problem(name, "domain")
    if problem is not None:
        return problem
    if name in sys.stdlib_module_names or name in MODULE_RESERVED:
        return (
            f"'{name}' would shadow the module '{name}' when the generated package is imported.",
            f"rename the domain, e.g. '{name}_domain'.",
        )
    return None
