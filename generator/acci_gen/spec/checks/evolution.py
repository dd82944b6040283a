"""Older event versions: their numbers, the upcast steps between them, and whether every older
version can still be read as the current class.

    events:
      CustomerRenamed:
        version: 3
        fields: {...}                  # the current shape
        versions:
          1:
            fields: {...}              # the shape v1 was released with
            upcast:                    # from v1 to v2, in order
              - rename: {name: full_name}
          2:
            fields: {...}
            upcast:
              - add: {reason: not recorded}
            custom: true               # then a hand-written upcaster (stubbed once)

Each step is checked against the shape it is applied to, so that no step silently loses data: it
names fields that exist at that point, and it does not create one that already exists (a rename
onto an existing field would overwrite it; an add of an existing field would do nothing).

Compatibility modes (the domain's `compatibility:`):
    backward_transitive (default)  every older version, through its chain of upcast steps
    backward                       the version just before the current one
    none                           no check (the hand-written upcasters are trusted)
"""

from __future__ import annotations

from typing import Any

from acci_gen.evolution.steps import apply_to_fields, conversion, has_default
from acci_gen.model import Event, Field, OldVersion, Step, TypeRef
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context
from acci_gen.spec.checks.fields import parse_fields
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import UNCHECKED


def parse_versions(
    ctx: Context, event: Event, versions: dict[str, lang.OldVersion], path: PathT
) -> list[OldVersion]:
    parsed: list[OldVersion] = []
    for key, spec in versions.items():
        vpath = (*path, key)
        number = int(key) if key.isdigit() and int(key) >= 1 else None
        if number is None:
            ctx.error(vpath, f"'{key}' is not a version number.", "use 1, 2, ... as keys.", key=True)
            continue
        if number >= event.version:
            ctx.error(
                vpath,
                f"v{number} is not older than the current version {event.version}.",
                f"list only versions below {event.version}; the current shape is 'fields'.",
                key=True,
            )
            continue
        fields = parse_fields(ctx, spec.fields, (*vpath, "fields"))
        # The steps as written: the generated upcasters and their comments follow the YAML.
        steps = [
            Step(kind, args) for item in ctx.raw((*vpath, "upcast")) or [] for kind, args in item.items()
        ]
        if spec.expected is not None and spec.example is None:
            ctx.error(
                (*vpath, "expected"),
                "'expected' is what 'example' reads as in the current version, but there is no 'example'.",
                f"add a v{number} payload as 'example', or remove 'expected'.",
            )
        _check_steps(ctx, number, fields, steps, vpath)
        parsed.append(
            OldVersion(
                number, fields, steps, spec.custom, spec.example, spec.expected if spec.example else None
            )
        )
    return sorted(parsed, key=lambda v: v.version)


def _check_steps(ctx: Context, version: int, fields: list[Field], steps: list[Step], path: PathT) -> None:
    """Each step against the fields present at its point of the chain."""
    present = {f.name for f in fields}
    for index, step in enumerate(steps):
        spath = (*path, "upcast", index, step.kind)
        for name in _needs(step):
            if name not in present:
                ctx.error(
                    spath,
                    f"v{version} has no field '{name}' at this step.",
                    did_you_mean(name, sorted(present), what="fields"),
                )
        for name, why in _creates(step, present):
            ctx.error(
                spath,
                f"v{version} already has a field '{name}' at this step, so {why}.",
                _CREATE_FIX[step.kind],
            )
        present = set(apply_to_fields([step], {name: Field(name, _ANY) for name in present}))


def _needs(step: Step) -> list[str]:
    """The fields a step reads."""
    args = step.args
    if step.kind == "map":
        return [unit[1] if (unit := conversion(table)) else str(name) for name, table in args.items()]
    if step.kind in ("rename", "remove"):
        return [str(name) for name in args]
    if step.kind == "split":
        return [args["field"]]
    if step.kind == "combine":
        return list(args["fields"])
    return []


def _creates(step: Step, present: set[str]) -> list[tuple[str, str]]:
    """Fields a step would create that exist already, with what would go wrong."""
    args: Any = step.args
    if step.kind == "add":
        return [(n, "the step would keep the old value and never add this one") for n in args if n in present]
    if step.kind == "rename":
        clashes = []
        now = set(present)
        for old, new in args.items():
            if new in now and new != old:
                clashes.append((new, f"renaming '{old}' onto it would overwrite its value"))
            if old in now:
                now = (now - {old}) | {new}
        return clashes
    if step.kind == "split":
        left = present - {args["field"]}
        return [
            (n, f"splitting '{args['field']}' into it would overwrite its value")
            for n in args["into"]
            if n in left
        ]
    if step.kind == "combine":
        left = present - set(args["fields"])
        if args["into"] in left:
            return [(args["into"], "combining into it would overwrite its value")]
    return []


_CREATE_FIX = {
    "add": "remove it from 'add' (it is there already), or rename or remove the old field in an "
    "earlier step.",
    "rename": "rename to a free name, or remove or rename the existing field in an earlier step.",
    "split": "split into free names, or remove or rename the existing field in an earlier step.",
    "combine": "combine into a free name, or remove or rename the existing field in an earlier step.",
}
#: A stand-in type: the step checks follow names, not types.
_ANY = TypeRef("string", "string")


def check_compatibility(ctx: Context, event: Event, mode: str) -> None:
    """Every older version, upcast step by step, must be readable as the current class."""
    declared = {o.version: o for o in event.versions}
    missing = [v for v in range(1, event.version) if v not in declared]
    for version in missing:
        ctx.error(
            ("events", event.name, "version"),
            f"{event.name} is at version {event.version} but v{version} is not declared, so "
            f"events stored at v{version} have no upcaster path.",
            f"add 'versions: {version}:' with its fields and the upcast steps to v{version + 1}.",
        )
    if missing or mode == "none" or not declared:
        return
    starts = sorted(declared) if mode == "backward_transitive" else [event.version - 1]
    current = {f.name: f for f in event.fields}
    for start in starts:
        fields = {f.name: f for f in declared[start].fields}
        custom = False
        for version in range(start, event.version):
            fields = apply_to_fields(declared[version].steps, fields)
            custom = custom or declared[version].custom
        if not custom:  # else a hand-written upcaster decides the shape; its generated test checks it
            _mismatches(ctx, event, start, fields, current)


def _mismatches(
    ctx: Context, event: Event, start: int, derived: dict[str, Field], current: dict[str, Field]
) -> None:
    path: PathT = ("events", event.name, "versions", str(start))
    now = f"v{event.version}"
    for name in sorted(derived):
        if name not in current:
            ctx.error(
                path,
                f"{event.name} v{start}, upcast to {now}, still has '{name}', which {now} does not have.",
                f"add an upcast step that removes or renames '{name}' (e.g. '- remove: [{name}]').",
            )
        elif not _readable(derived[name], current[name]):
            ctx.error(
                path,
                f"{event.name} v{start}, upcast to {now}, has '{name}' as "
                f"{derived[name].type.text}, but {now} wants {current[name].type.text}.",
                "convert it with a hand-written upcaster ('custom: true' on that version).",
            )
    for name, target in sorted(current.items()):
        if name not in derived and not has_default(target):
            ctx.error(
                path,
                f"{event.name} v{start}, upcast to {now}, has no '{name}', which {now} requires.",
                f"add '- add: {{{name}: <value>}}' to the upcast steps, or give '{name}' a default.",
            )


def _readable(source: Field, target: Field) -> bool:
    if source.optional and not target.optional and not has_default(target):
        return False
    a, b = source.type, target.type
    if (a.kind == b.kind and a.name == b.name) or UNCHECKED in (a.kind, b.kind):
        return True
    return (a.kind, b.kind) in {("int", "decimal"), ("email", "string"), ("enum", "string")}
