"""Public types (`public_types:`): the enums and objects a public shape may hold, declared apart
from `types:` so that an internal type can change without changing what consumers read.

A value crosses between an internal and a public type (or, when consuming, between a publisher's
public type and a command's type) only by a conversion checked here: an enum by value (every
value of the source must be a value of the target, or a message could not be converted), an
object field by field (each field of the target from the same-named field of the source, or
optional), lists item by item. Plain scalars follow the usual rules (`context.mismatch`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from acci_gen.model import Field, NamedType, TypeRef
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, mismatch
from acci_gen.spec.checks.fields import enum_values, parse_fields
from acci_gen.spec.loader import PathT
from acci_gen.spec.values import UNCHECKED


def check_public_types(
    ctx: Context, types: dict[str, lang.EnumType | lang.ObjectType]
) -> dict[str, NamedType]:
    """The public types by name; their fields may name public types only."""
    public: dict[str, NamedType] = {}
    pending: list[tuple[NamedType, dict[str, Any] | None, PathT]] = []
    for name, spec in types.items():
        path: PathT = ("public_types", name)
        if not ctx.check_pascal(name, "public type", path):
            continue
        named = NamedType(name, spec.description or "")
        if isinstance(spec, lang.EnumType):
            named.values = enum_values(ctx, spec.enum, (*path, "enum"))
        else:
            pending.append((named, spec.fields, (*path, "fields")))
        public[name] = named
    for named, fields, path in pending:
        named.fields = parse_public_fields(ctx, fields, path, public)
        for field in named.fields:
            if field.type.name == named.name:
                ctx.error(
                    (*path, field.name),
                    f"public type '{named.name}' contains itself.",
                    "break the cycle with another type.",
                )
    return public


def parse_public_fields(
    ctx: Context, fields: dict[str, Any] | None, path: PathT, public: dict[str, NamedType]
) -> list[Field]:
    """Fields whose named types are the public ones (a contract names no internal type); a field
    whose type is unknown is left out (its mapping would only repeat the error)."""
    internal = ctx.types
    ctx.types = public
    ctx.hidden = {
        name: (
            f"'{name}' is a type of this domain ('types:'); a public shape names only public types, "
            "so that the internal one can change without breaking its consumers.",
            "declare the public type under 'public_types:' (an enum of the values consumers may "
            "read, or an object of the fields), name it here, and map the field from the event: an "
            "enum converts by value, an object field by field.",
        )
        for name in internal
        if name not in public
    }
    try:
        parsed = parse_fields(ctx, fields, path)
    finally:
        ctx.types, ctx.hidden = internal, {}
    return [
        public_field(f) for f in parsed if UNCHECKED not in (f.type.kind, f.type.item and f.type.item.kind)
    ]


def public_field(field: Field) -> Field:
    return dataclasses.replace(field, type=public_ref(field.type))


def public_ref(ref: TypeRef) -> TypeRef:
    """The reference marked as one to a public type (scalars stay as they are)."""
    if ref.item is not None:
        return dataclasses.replace(ref, item=public_ref(ref.item))
    return dataclasses.replace(ref, public=True) if ref.kind in ("enum", "object") else ref


def crosses(ref: TypeRef) -> bool:
    """Whether a value of this type is a public type's (or a list of them)."""
    return ref.public or (ref.item is not None and ref.item.public)


def conversion_problem(
    source: Field, target: Field, sources: dict[str, NamedType], targets: dict[str, NamedType]
) -> str | None:
    """Why a value of `source` (its types in `sources`) cannot become `target` (in `targets`):
    "may be None", "is a string", "has the value 'x' that Carrier does not have"; or None."""
    if source.optional and not target.optional:
        return "may be None"
    return _type_problem(source.type, target.type, sources, targets)


def _type_problem(
    source: TypeRef, target: TypeRef, sources: dict[str, NamedType], targets: dict[str, NamedType]
) -> str | None:
    if source.kind == "list" or target.kind == "list":
        if source.item is None or target.item is None:
            return f"is a {source.text}"
        problem = _type_problem(source.item, target.item, sources, targets)
        return None if problem is None else f"holds items that {problem}"
    if not (source.public or target.public):
        return mismatch(Field("_", source), Field("_", target))
    src, tgt = sources.get(source.name), targets.get(target.name)
    if source.kind == "enum" and src is not None and target.kind == "string":
        return None  # a consumer may keep an enum's value as text
    if source.kind == "enum" and target.kind == "enum" and src is not None and tgt is not None:
        missing = [v for v in src.values or [] if v not in (tgt.values or [])]
        if missing:
            return (
                f"may be {', '.join(repr(v) for v in missing)}, which {target.name} does not have "
                f"(its values: {', '.join(tgt.values or [])})"
            )
        return None
    if source.kind == "object" and target.kind == "object" and src is not None and tgt is not None:
        by_name = {f.name: f for f in src.fields}
        for field in tgt.fields:
            if field.name not in by_name:
                if field.required:
                    return f"has no field '{field.name}', which {target.name} needs"
                continue
            problem = conversion_problem(by_name[field.name], field, sources, targets)
            if problem is not None:
                return f"has a field '{field.name}' that {problem}"
        return None
    return f"is a {source.text}"
