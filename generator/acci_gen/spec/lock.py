"""The lock file: the released shape of every event version, committed beside the domain file.

A released version is frozen. `acci-gen generate` adds the shapes of new versions and never
changes a recorded one; `acci-gen check` (and generate) fail when the YAML no longer matches it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acci_gen.model import MISSING, Domain, Field, NamedType, TypeRef

LOCK_SUFFIX = ".lock.json"


@dataclass(frozen=True)
class Problem:
    """A lock or compatibility problem: where (event, version, field) and how to fix it."""

    event: str
    version: int
    field: str
    message: str
    fix: str
    #: The path inside the domain document the problem points at.
    path: tuple[str | int, ...]


def lock_path(domain_file: Path) -> Path:
    return domain_file.with_name(domain_file.name.removesuffix(".yaml").removesuffix(".yml") + LOCK_SUFFIX)


class LockFileError(ValueError):
    """A lock file that cannot be read: acci-gen would otherwise forget what was released."""


def read_lock(path: Path) -> dict[str, dict[str, Any]]:
    """{event: {version (str): shape}}; empty when there is no lock file yet."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise LockFileError(f"{path} cannot be read: {error}") from error
    events = data.get("events", {}) if isinstance(data, dict) else None
    if not isinstance(events, dict) or not all(
        isinstance(versions, dict)
        and all(
            str(v).isdigit() and isinstance(s, dict) and isinstance(s.get("fields"), dict)
            for v, s in versions.items()
        )
        for versions in events.values()
    ):
        raise LockFileError(f"{path} is not a lock file written by acci-gen")
    return events


def lock_text(
    domain: str, events: dict[str, dict[str, Any]], public: dict[str, dict[str, Any]] | None = None
) -> str:
    """The lock file; released public shapes (acci_gen.spec.public_lock) under
    "integration_events" when the domain has any."""
    body: dict[str, Any] = {
        "domain": domain,
        "about": "Released event shapes, one per version. Written by acci-gen; commit it; never edit it.",
        "events": _by_version(events),
    }
    if public:
        body["integration_events"] = _by_version(public)
    return json.dumps(body, indent=2) + "\n"


def _by_version(shapes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: dict(sorted(shapes[name].items(), key=lambda kv: int(kv[0]))) for name in sorted(shapes)}


def shape(fields: list[Field], types: dict[str, NamedType], *, named: bool = False) -> dict[str, Any]:
    """The canonical shape of a payload: what a reader depends on. `named`: each enum and object
    also says its name (a contract's `x-acci-fields`, from which a consumer names its classes;
    the lock leaves names out, as renaming a type changes nothing a reader reads)."""
    return {f.name: _field_shape(f, types, named) for f in sorted(fields, key=lambda f: f.name)}


def _field_shape(field: Field, types: dict[str, NamedType], named: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _type_shape(field.type, types, named)}
    if field.optional:
        out["optional"] = True
    if field.default is not MISSING:
        out["default"] = field.default if not isinstance(field.default, (set, tuple)) else list(field.default)
    names = ("minimum", "maximum", "min_length", "max_length", "pattern", "min_items", "max_items")
    for name in (*names, "precision", "scale"):
        value = getattr(field, name)
        if value is not None:
            out[name] = value if isinstance(value, (int, str, bool)) else str(value)
    return out


def _type_shape(ref: TypeRef, types: dict[str, NamedType], named: bool = False) -> Any:
    if ref.kind == "list":
        assert ref.item is not None
        return {"list": _type_shape(ref.item, types, named)}
    declared = types.get(ref.name)
    name = {"name": ref.name} if named else {}
    if ref.kind == "enum" and declared is not None:
        return {"enum": list(declared.values or []), **name}
    if ref.kind == "object" and declared is not None:
        return {"object": shape(declared.fields, types, named=named), **name}
    return ref.name


def version_shapes(domain: Domain) -> dict[str, dict[str, Any]]:
    """The shape of every version of every event, as the YAML declares them now."""
    types = {t.name: t for t in domain.types}
    shapes: dict[str, dict[str, Any]] = {}
    for event in domain.events:
        versions = {str(event.version): {"fields": shape(event.fields, types)}}
        for older in event.versions:
            versions[str(older.version)] = {"fields": shape(older.fields, types)}
        shapes[event.name] = versions
    return shapes


def compare_with_lock(
    locked: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]], domain: Domain
) -> list[Problem]:
    """Released versions whose shape changed, or that disappeared."""
    problems: list[Problem] = []
    events = {e.name: e for e in domain.events}
    for name, versions in sorted(locked.items()):
        event = events.get(name)
        for version, released in sorted(versions.items(), key=lambda kv: int(kv[0])):
            number = int(version)
            now = current.get(name, {}).get(version)
            if event is None:
                problems.append(
                    Problem(
                        name,
                        number,
                        "",
                        f"{name} v{number} was released but the event is gone; stored events of it "
                        "could no longer be read.",
                        f"keep {name} in the domain (a projection may ignore it), or delete its entry from "
                        "the lock file if no such event was ever stored.",
                        ("events",),
                    )
                )
                break
            if now is None:
                problems.append(
                    Problem(
                        name,
                        number,
                        "",
                        f"{name} v{number} was released but is no longer declared.",
                        f"declare it under 'versions: {number}:' with its fields and upcast steps.",
                        ("events", name, "versions"),
                    )
                )
                continue
            if now != released:
                field, detail = _first_difference(released["fields"], now["fields"])
                in_current = number == event.version
                path: tuple[str | int, ...] = (
                    ("events", name, "fields") if in_current else ("events", name, "versions", str(number))
                )
                problems.append(
                    Problem(
                        name,
                        number,
                        field,
                        f"{name} v{number} changed after it was released: {detail}.",
                        (
                            f"released versions are frozen: restore v{number}'s fields, then set "
                            f"'version: {event.version + 1}', move the old fields under 'versions: "
                            f"{number}:' and describe the change with upcast steps. If v{number} was "
                            "never stored anywhere, delete its entry from the lock file instead."
                        )
                        if in_current
                        else f"restore the fields of 'versions: {number}:' exactly as released.",
                        path,
                    )
                )
    return problems


def _first_difference(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, str]:
    for name in sorted(set(before) | set(after)):
        if name not in after:
            return name, f"field '{name}' was removed"
        if name not in before:
            return name, f"field '{name}' was added"
        if before[name] != after[name]:
            return name, f"field '{name}' changed from {_brief(before[name])} to {_brief(after[name])}"
    return "", "its shape changed"


def _brief(shape: dict[str, Any]) -> str:
    return json.dumps(shape, sort_keys=True)


def updated_lock(
    locked: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The lock with the shapes of versions not recorded yet; recorded ones stay as they are."""
    out = {name: dict(versions) for name, versions in locked.items()}
    for name, versions in current.items():
        for version, value in versions.items():
            out.setdefault(name, {}).setdefault(version, value)
    return out
