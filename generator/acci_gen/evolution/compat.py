"""The compatibility check: can every older version still be read as the current class?

Modes (the domain's `compatibility:`):
    backward_transitive (default)  every older version, through its chain of upcast steps
    backward                       the version just before the current one
    none                           no check (the hand-written upcasters are trusted)
"""

from __future__ import annotations

from acci_gen.evolution.lock import Problem
from acci_gen.evolution.steps import OldVersion, apply_to_fields, has_default
from acci_gen.model import Event, Field

MODES = ("backward_transitive", "backward", "none")


def check_event(event: Event, old: list[OldVersion], mode: str) -> list[Problem]:
    problems: list[Problem] = []
    declared = {o.version: o for o in old}
    for version in range(1, event.version):
        if version not in declared:
            problems.append(
                Problem(
                    event.name,
                    version,
                    "",
                    f"{event.name} is at version {event.version} but v{version} is not declared, so "
                    f"events stored at v{version} have no upcaster path.",
                    f"add 'versions: {version}:' with its fields and the upcast steps to v{version + 1}.",
                    ("events", event.name, "version"),
                )
            )
    if problems or mode == "none" or not old:
        return problems
    starts = sorted(declared) if mode == "backward_transitive" else [event.version - 1]
    current = {f.name: f for f in event.fields}
    for start in starts:
        fields = {f.name: f for f in declared[start].fields}
        custom = False
        for version in range(start, event.version):
            step = declared[version]
            fields = apply_to_fields(step.steps, fields)
            custom = custom or step.custom
        if custom:
            continue  # a hand-written upcaster decides the shape; its generated test checks it
        problems += _mismatches(event, start, fields, current)
    return problems


def _mismatches(
    event: Event, start: int, derived: dict[str, Field], current: dict[str, Field]
) -> list[Problem]:
    out: list[Problem] = []
    path: tuple[str | int, ...] = ("events", event.name, "versions", str(start))
    for name in sorted(derived):
        if name not in current:
            out.append(
                Problem(
                    event.name,
                    start,
                    name,
                    f"{event.name} v{start}, upcast to v{event.version}, still has '{name}', which "
                    f"v{event.version} does not have.",
                    f"add an upcast step that removes or renames '{name}' (e.g. '- remove: [{name}]').",
                    path,
                )
            )
        elif not _readable(derived[name], current[name]):
            out.append(
                Problem(
                    event.name,
                    start,
                    name,
                    f"{event.name} v{start}, upcast to v{event.version}, has '{name}' as "
                    f"{derived[name].type.text}, but v{event.version} wants {current[name].type.text}.",
                    "convert it with a hand-written upcaster ('custom: true' on that version).",
                    path,
                )
            )
    for name, target in sorted(current.items()):
        if name not in derived and not has_default(target):
            out.append(
                Problem(
                    event.name,
                    start,
                    name,
                    f"{event.name} v{start}, upcast to v{event.version}, has no '{name}', which "
                    f"v{event.version} requires.",
                    f"add '- add: {{{name}: <value>}}' to the upcast steps, or give '{name}' a default.",
                    path,
                )
            )
    return out


def _readable(source: Field, target: Field) -> bool:
    if source.optional and not target.optional and not has_default(target):
        return False
    a, b = source.type, target.type
    if a.kind == b.kind and a.name == b.name:
        return True
    widening = {("int", "decimal"), ("email", "string"), ("enum", "string")}
    return (a.kind, b.kind) in widening
