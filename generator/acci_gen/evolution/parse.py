"""Reading the older versions of an event from a domain document:

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
        example: {...}             # optional sample payload for the generated test
"""

from __future__ import annotations

from typing import Any, Protocol

from acci_gen.evolution.steps import KINDS, OldVersion, Step
from acci_gen.model import Event, Field
from acci_gen.suggest import did_you_mean

PathT = tuple[str | int, ...]
VERSION_KEYS = ("fields", "upcast", "custom", "example", "expected", "description")


class _Checker(Protocol):
    def error(self, path: PathT, message: str, fix: str = "", *, key: bool = False) -> None: ...

    def mapping(self, value: Any, path: PathT, what: str, *, allow_none: bool = True) -> dict[str, Any]: ...

    def keys(
        self, node: dict[str, Any], path: PathT, allowed: Any, what: str, required: Any = ()
    ) -> None: ...

    def parse_fields(self, value: Any, path: PathT, what: str = "field") -> list[Field]: ...

    def list_of(self, value: Any, path: PathT, what: str) -> list[Any]: ...


def parse_versions(check: _Checker, event: Event, value: Any, path: PathT) -> list[OldVersion]:
    versions: list[OldVersion] = []
    node = check.mapping(value, path, "'versions'")
    for raw_version, spec in node.items():
        vpath = (*path, raw_version)
        number = _version_number(raw_version)
        if number is None:
            check.error(
                vpath, f"'{raw_version}' is not a version number.", "use 1, 2, ... as keys.", key=True
            )
            continue
        if number >= event.version:
            check.error(
                vpath,
                f"v{number} is not older than the current version {event.version}.",
                f"list only versions below {event.version}; the current shape is 'fields'.",
                key=True,
            )
            continue
        body = check.mapping(spec, vpath, f"version {number}", allow_none=False)
        check.keys(body, vpath, VERSION_KEYS, f"version {number}", required=("fields",))
        fields = check.parse_fields(body.get("fields"), (*vpath, "fields"))
        steps = [
            step
            for index, item in enumerate(check.list_of(body.get("upcast"), (*vpath, "upcast"), "'upcast'"))
            if (step := _step(check, item, (*vpath, "upcast", index))) is not None
        ]
        custom = body.get("custom", False)
        if not isinstance(custom, bool):
            check.error((*vpath, "custom"), "'custom' must be true or false.", "write 'custom: true'.")
            custom = False
        example = body.get("example")
        if example is not None and not isinstance(example, dict):
            check.error((*vpath, "example"), "'example' must be a mapping of field values.", "")
            example = None
        expected = body.get("expected")
        if expected is not None and (not isinstance(expected, dict) or example is None):
            check.error(
                (*vpath, "expected"),
                "'expected' must be a mapping of field values, next to an 'example'.",
                "give the current-version payload that 'example' must be read as.",
            )
            expected = None
        _check_steps(check, number, fields, steps, vpath)
        versions.append(OldVersion(number, fields, steps, custom, example, expected))
    return sorted(versions, key=lambda v: v.version)


def _version_number(key: Any) -> int | None:
    """A version key: YAML gives 1 as an int, "1" as text; both mean version 1."""
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, int) and not isinstance(key, bool) and key >= 1:
        return key
    return None


def _step(check: _Checker, item: Any, path: PathT) -> Step | None:
    if not isinstance(item, dict) or len(item) != 1:
        check.error(
            path,
            "an upcast step is one of: " + ", ".join(KINDS) + ".",
            "write e.g. '- rename: {name: full_name}'.",
        )
        return None
    ((kind, args),) = item.items()
    if kind not in KINDS:
        check.error((*path, kind), f"'{kind}' is not an upcast step.", did_you_mean(kind, KINDS), key=True)
        return None
    valid = {
        "add": isinstance(args, dict) and bool(args),
        "rename": isinstance(args, dict) and all(isinstance(v, str) for v in args.values()),
        "remove": isinstance(args, list) and all(isinstance(v, str) for v in args),
        "map": isinstance(args, dict) and all(isinstance(v, dict) for v in args.values()),
        "split": isinstance(args, dict)
        and isinstance(args.get("field"), str)
        and isinstance(args.get("into"), list),
        "combine": isinstance(args, dict)
        and isinstance(args.get("fields"), list)
        and isinstance(args.get("into"), str),
    }[kind]
    if not valid:
        check.error(
            (*path, kind),
            f"the '{kind}' step is malformed.",
            {
                "add": "write '- add: {field: default value}'.",
                "rename": "write '- rename: {old_name: new_name}'.",
                "remove": "write '- remove: [field, ...]'.",
                "map": "write '- map: {field: {old value: new value}}'.",
                "split": "write '- split: {field: name, into: [first, last], separator: \" \"}'.",
                "combine": "write '- combine: {fields: [first, last], into: name, separator: \" \"}'.",
            }[kind],
        )
        return None
    return Step(kind, args)


def _check_steps(check: _Checker, version: int, fields: list[Field], steps: list[Step], path: PathT) -> None:
    """Steps must name fields that exist at that point of the chain."""
    present = {f.name for f in fields}
    for index, step in enumerate(steps):
        spath = (*path, "upcast", index, step.kind)
        needed: list[str] = []
        if step.kind == "rename" or step.kind in ("remove",) or step.kind == "map":
            needed = list(step.args)
        elif step.kind == "split":
            needed = [step.args["field"]]
        elif step.kind == "combine":
            needed = list(step.args["fields"])
        for name in needed:
            if name not in present:
                check.error(
                    spath,
                    f"v{version} has no field '{name}' at this step.",
                    did_you_mean(name, sorted(present), what="fields"),
                )
        if step.kind == "add":
            present |= set(step.args)
        elif step.kind == "rename":
            present = (present - set(step.args)) | set(step.args.values())
        elif step.kind == "remove":
            present -= set(step.args)
        elif step.kind == "split":
            present = (present - {step.args["field"]}) | set(step.args["into"])
        elif step.kind == "combine":
            present = (present - set(step.args["fields"])) | {step.args["into"]}
