"""Fields and named types: type names resolved, constraints that fit the type, defaults and
examples that fit the field, field names that are valid Python and SQL names."""

from __future__ import annotations

import re
from typing import Any

from acci_gen.model import MISSING, NUMERIC, SCALARS, Domain, Field, NamedType, TypeRef
from acci_gen.names import enum_value_problem, field_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import UNCHECKED, fits, value_problem

_LIST_RE = re.compile(r"^list\[\s*([A-Za-z][A-Za-z0-9_]*)\s*\]$")

#: Which constraints apply to which kinds of type.
_CONSTRAINTS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("min", "max"): NUMERIC,
    ("min_length", "max_length"): ("string", "email"),
    ("pattern",): ("string",),
    ("min_items", "max_items"): ("list",),
    ("precision", "scale"): ("decimal",),
}


def parse_type(ctx: Context, text: str, path: PathT) -> TypeRef | None:
    """A type name: a scalar, a named type, or list[<type>]."""
    known = [*SCALARS, *sorted(ctx.types), "list[<type>]"]
    text = text.strip()
    match = _LIST_RE.match(text)
    if match:
        item = parse_type(ctx, match.group(1), path)
        if item is None:
            return None
        if item.kind == "list":
            ctx.error(path, "lists of lists are not supported.", "wrap the inner list in an object type.")
            return None
        return TypeRef("list", item.name, item)
    if text in SCALARS:
        return TypeRef(text, text)
    named = ctx.types.get(text)
    if named is not None:
        return TypeRef("enum" if named.is_enum else "object", text)
    if text in ctx.hidden:
        ctx.error(path, *ctx.hidden[text])
    elif not ctx.broken("types", text):
        ctx.error(path, f"unknown type '{text}'.", did_you_mean(text, known, what="types"))
    return TypeRef(UNCHECKED, text)


def parse_fields(
    ctx: Context, fields: dict[str, Any] | None, path: PathT, what: str = "field"
) -> list[Field]:
    """The fields of a mapping, in order; a field with a problem is reported and left out."""
    parsed: list[Field] = []
    for name, spec in (fields or {}).items():
        fpath = (*path, name)
        problem = field_problem(name, what, sql=what != "parameter")
        if problem:
            ctx.error(fpath, problem[0], problem[1], key=True)
            continue
        field = parse_field(ctx, name, spec, fpath)
        if field is not None:
            parsed.append(field)
    for dropped in sorted(ctx.shaped.dropped_fields, key=str):
        if dropped[:-1] == path:  # its shape error is reported; here it exists, unchecked
            parsed.append(Field(str(dropped[-1]), TypeRef(UNCHECKED, str(dropped[-1]))))
    return parsed


def parse_field(ctx: Context, name: str, spec: str | lang.FieldSpec, path: PathT) -> Field | None:
    if isinstance(spec, str):
        ref = parse_type(ctx, spec, path)
        return Field(name, ref) if ref else None
    ref = parse_type(ctx, spec.type, (*path, "type"))
    if ref is None:
        return None
    field = Field(name, ref, optional=spec.optional, description=spec.description or "")
    _constraints(ctx, field, spec, path)
    if spec.written("default"):
        _default(ctx, field, spec.default, (*path, "default"))
    if spec.written("example"):
        problem = value_problem(spec.example, field, ctx.types)
        if problem:
            ctx.error(
                (*path, "example"),
                f"the example does not fit the field: {problem}.",
                "give an example that fits the type and the constraints.",
            )
        else:
            field.example = spec.example
    if field.pattern is not None and field.example is MISSING:
        ctx.error(
            (*path, "pattern"),
            f"field '{name}' has a pattern but no example.",
            "add 'example:' with a value that matches the pattern (the generated tests use it).",
            key=True,
        )
    return field


def _constraints(ctx: Context, field: Field, spec: lang.FieldSpec, path: PathT) -> None:
    kind = field.type.kind
    for keys, kinds in _CONSTRAINTS.items():
        for key in keys:
            value = getattr(spec, key)
            if value is None:
                continue
            kpath = (*path, key)
            if not fits(kind, kinds):
                ctx.error(
                    kpath,
                    f"'{key}' does not apply to a field of type {field.type.text}.",
                    f"remove '{key}', or change the type.",
                    key=True,
                )
            elif key == "pattern":
                try:
                    re.compile(value)
                except re.error as error:
                    ctx.error(
                        kpath,
                        f"the pattern is not a valid regular expression: {error}.",
                        "fix the regular expression.",
                    )
                    continue
                field.pattern = value
            elif key in ("min", "max"):
                if kind == "int" and not isinstance(value, int):
                    ctx.error(kpath, f"'{key}' must be a number (an integer).", f"write '{key}: 0'.")
                    continue
                setattr(field, "minimum" if key == "min" else "maximum", value)
            else:
                setattr(field, key, value)
    if field.scale is not None and field.precision is None:
        ctx.error(
            (*path, "scale"),
            "'scale' needs 'precision' (the digits in all).",
            f"add 'precision:' (at least {field.scale}) next to 'scale'.",
            key=True,
        )
    elif field.scale is not None and field.precision is not None and field.scale > field.precision:
        ctx.error(
            (*path, "scale"),
            f"the scale {field.scale} is greater than the precision {field.precision}.",
            "the digits after the point are part of the precision: raise 'precision' or lower 'scale'.",
            key=True,
        )
        field.scale = None
    for low, high in (("minimum", "maximum"), ("min_length", "max_length"), ("min_items", "max_items")):
        lo, hi = getattr(field, low), getattr(field, high)
        if lo is not None and hi is not None and lo > hi:
            key = {"minimum": "min", "maximum": "max"}.get(low, low)
            ctx.error(
                (*path, key),
                f"the lower bound {lo} is greater than the upper bound {hi}.",
                "swap or correct the bounds.",
                key=True,
            )


def _default(ctx: Context, field: Field, value: Any, path: PathT) -> None:
    field.default = value  # even when wrong: later checks must not report a missing value
    kind = field.type.kind
    if kind == "object":
        ctx.error(path, "an object field cannot have a default.", "make it 'optional: true' instead.")
        return
    if kind == "list" and value != []:
        ctx.error(path, "a list can only default to the empty list [].", "write 'default: []'.")
        return
    if kind in ("date", "datetime", "uuid"):
        ctx.error(
            path,
            f"a {kind} field cannot have a default (it would be the same for everyone).",
            "make it 'optional: true', or map it from the command or metadata.",
        )
        return
    problem = value_problem(value, field, ctx.types)
    if problem:
        ctx.error(
            path, f"the default does not fit the field: {problem}.", "give a default of the field's type."
        )


def check_types(ctx: Context, types: dict[str, lang.EnumType | lang.ObjectType], domain: Domain) -> None:
    """Enums and object types; object fields are read once every type name is known."""
    pending: list[tuple[NamedType, dict[str, Any] | None, PathT]] = []
    for name, spec in types.items():
        path: PathT = ("types", name)
        if not ctx.check_pascal(name, "type", path):
            continue
        ctx.claim(name, "type", path)
        named = NamedType(name, spec.description or "")
        if isinstance(spec, lang.EnumType):
            named.values = enum_values(ctx, spec.enum, (*path, "enum"))
        else:
            pending.append((named, spec.fields, (*path, "fields")))
        ctx.types[name] = named
        domain.types.append(named)
    for named, fields, path in pending:
        named.fields = parse_fields(ctx, fields, path)
        for field in named.fields:
            if field.type.name == named.name:
                ctx.error(
                    (*path, field.name),
                    f"type '{named.name}' contains itself.",
                    "break the cycle with another type.",
                )


def enum_values(ctx: Context, items: list[str], path: PathT) -> list[str]:
    values: list[str] = []
    for index, item in enumerate(items):
        problem = enum_value_problem(item)
        if problem:
            ctx.error((*path, index), problem[0], problem[1])
        elif item in values:
            ctx.error((*path, index), f"the enum value '{item}' appears twice.", "remove one of them.")
        else:
            values.append(item)
    return values
