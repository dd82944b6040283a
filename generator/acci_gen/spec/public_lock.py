"""Released public shapes: the `integration_events` part of the lock file.

Other teams generate code from a public event version, so a released version changes only in
ways every consumer of it can read: it may gain an optional field (or one with a default;
consumers ignore fields they do not know), nothing else. The domain's `compatibility:` says
which released versions are held to that:

    backward_transitive (default)  every version ever released stays declared and readable
    backward                       the versions still declared (an older one may be dropped)
    none                           none (the teams coordinate by hand)

An integration event that was released cannot disappear in any mode but `none`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acci_gen.model import Domain
from acci_gen.spec.lock import LockFileError, Problem, shape

LOCK_KEY = "integration_events"


def public_shapes(domain: Domain) -> dict[str, dict[str, Any]]:
    """{public event: {version (str): {"fields": shape}}} as the YAML declares them now."""
    types = {t.name: t for t in domain.public_types}
    return {
        public.name: {
            str(version.version): {"fields": shape(version.fields, types)}
            for version in public.all_versions()
        }
        for public in domain.integration_events
    }


def read_public_lock(path: Path) -> dict[str, dict[str, Any]]:
    """The released public shapes of a lock file; empty when it has none (or there is none)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise LockFileError(f"{path} cannot be read: {error}") from error
    public = data.get(LOCK_KEY, {}) if isinstance(data, dict) else None
    if not isinstance(public, dict) or not all(
        isinstance(versions, dict)
        and all(
            str(v).isdigit() and isinstance(s, dict) and isinstance(s.get("fields"), dict)
            for v, s in versions.items()
        )
        for versions in public.values()
    ):
        raise LockFileError(f"{path} is not a lock file written by acci-gen")
    return public


def compatible_change(released: dict[str, Any], now: dict[str, Any]) -> tuple[str, str] | None:
    """None when every consumer of `released` reads `now`; else (field, what changed)."""
    for name in sorted(set(released) | set(now)):
        if name not in now:
            return name, f"field '{name}' was removed"
        if name not in released:
            if not (now[name].get("optional") or "default" in now[name]):
                return name, f"required field '{name}' was added"
            continue
        if released[name] != now[name]:
            inner = _object_change(released[name], now[name])
            if inner is not None:
                if inner == ("", ""):
                    continue
                return f"{name}.{inner[0]}", f"the object field '{name}': {inner[1]}"
            return name, f"field '{name}' changed from {_brief(released[name])} to {_brief(now[name])}"
    return None


def _object_change(released: dict[str, Any], now: dict[str, Any]) -> tuple[str, str] | None:
    """For a field that is a public object (or a list of them) on both sides, and otherwise the
    same: its fields follow the field rules, ("", "") when they do. None for any other field (an
    enum that gained a value is a change: consumers validate the values they read)."""
    before, after = released.get("type"), now.get("type")
    while isinstance(before, dict) and isinstance(after, dict) and "list" in before and "list" in after:
        before, after = before["list"], after["list"]
    rest = {k: v for k, v in released.items() if k != "type"} == {k: v for k, v in now.items() if k != "type"}
    if not (
        rest
        and isinstance(before, dict)
        and isinstance(after, dict)
        and "object" in before
        and "object" in after
    ):
        return None
    return compatible_change(before["object"], after["object"]) or ("", "")


def _brief(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)


def compare_public_with_lock(
    locked: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]], domain: Domain
) -> list[Problem]:
    """Released public versions that consumers could no longer read."""
    mode = domain.compatibility
    if mode == "none":
        return []
    problems: list[Problem] = []
    declared = {p.name: p for p in domain.integration_events}
    for name, versions in sorted(locked.items()):
        public = declared.get(name)
        if public is None:
            problems.append(
                Problem(
                    name,
                    0,
                    "",
                    f"integration event {name} was released but is gone; its consumers would wait for "
                    "it for ever.",
                    f"keep publishing {name} (its consumers' 'consumes:' entries name it); once no "
                    "consumer reacts to it any more, delete its entry under 'integration_events' of "
                    "the lock file.",
                    ("integration_events",),
                )
            )
            continue
        for version, released in sorted(versions.items(), key=lambda kv: int(kv[0])):
            number = int(version)
            now = current.get(name, {}).get(version)
            if now is None:
                if mode == "backward_transitive":
                    problems.append(
                        Problem(
                            name,
                            number,
                            "",
                            f"integration event {name} v{number} was released but is no longer "
                            "declared; consumers of it could no longer generate their code from the "
                            "contract.",
                            f"declare it under 'versions: {number}:' with the fields it was released "
                            "with (or set 'compatibility: backward' to keep only the versions declared).",
                            ("integration_events", name, "versions"),
                        )
                    )
                continue
            change = compatible_change(released["fields"], now["fields"])
            if change is None:
                continue
            field, detail = change
            in_current = number == public.version
            path: tuple[str | int, ...] = (
                ("integration_events", name, "fields")
                if in_current
                else ("integration_events", name, "versions", str(number))
            )
            problems.append(
                Problem(
                    name,
                    number,
                    field,
                    f"integration event {name} v{number} changed after it was released: {detail}; "
                    f"its consumers read v{number} as released.",
                    (
                        f"restore v{number}'s fields (a released version may only gain optional "
                        f"fields). To change the shape, set 'version: {public.version + 1}' with the "
                        f"new fields, keep v{number} under 'versions: {number}:', and tell the teams "
                        f"that consume {name} to react to v{public.version + 1} ('version: "
                        f"{public.version + 1}' in their 'consumes:' entry, or a list of reactions to "
                        f"v{number} and v{public.version + 1} while the stream holds both, after "
                        "vendoring the new contract) before this is deployed."
                    )
                    if in_current
                    else f"restore the fields of 'versions: {number}:' exactly as released.",
                    path,
                )
            )
    return problems


def updated_public_lock(
    locked: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The lock with every declared version's shape (a compatible change replaces the recorded
    one, so that the optional field it added is held too); released versions no longer declared
    stay recorded."""
    out = {name: dict(versions) for name, versions in locked.items()}
    for name, versions in current.items():
        for version, value in versions.items():
            recorded = out.setdefault(name, {}).get(version)
            if recorded is None or compatible_change(recorded["fields"], value["fields"]) is None:
                out[name][version] = value
    return out
