"""The data the evolution templates need: upcaster functions (one per version step), their
registration, the hand-written stubs, and the generated evolution tests."""

from __future__ import annotations

import json
from typing import Any

from acci_gen.emit.python.exprs import Imports, snake
from acci_gen.emit.python.pytypes import literal, validate_call
from acci_gen.emit.python.samples import sample_data
from acci_gen.evolution.steps import OldVersion, Step, apply_to_data
from acci_gen.model import Domain, Event


def function_name(event: Event, version: int) -> str:
    return f"{snake(event.name)}_v{version}_to_v{version + 1}"


def step_lines(step: Step) -> list[str]:
    """Python lines that do one step to `data` (a copy of the payload), like steps.apply_to_data."""
    args = step.args
    lines: list[str] = []
    if step.kind == "add":
        for name, value in args.items():
            lines.append(f"data.setdefault({json.dumps(name)}, {literal(value, 4)})")
    elif step.kind == "rename":
        for old, new in args.items():
            lines.append(f"if {json.dumps(old)} in data:")
            lines.append(f"    data[{json.dumps(new)}] = data.pop({json.dumps(old)})")
    elif step.kind == "remove":
        for name in args:
            lines.append(f"data.pop({json.dumps(name)}, None)")
    elif step.kind == "map":
        for name, table in args.items():
            key = json.dumps(name)
            lines.append(f"renamed = {literal(table, 4)}")
            lines.append(f"if data.get({key}) in renamed:")
            lines.append(f"    data[{key}] = renamed[data[{key}]]")
    elif step.kind == "split":
        into = args["into"]
        separator = json.dumps(args.get("separator", " "))
        lines.append(f"whole = data.pop({json.dumps(args['field'])}, None)")
        lines.append(f"parts = [] if whole is None else str(whole).split({separator}, {len(into) - 1})")
        for index, name in enumerate(into):
            lines.append(f'data[{json.dumps(name)}] = parts[{index}] if len(parts) > {index} else ""')
    elif step.kind == "combine":
        separator = json.dumps(args.get("separator", " "))
        names = ", ".join(f"data.pop({json.dumps(n)}, None)" for n in args["fields"])
        lines.append(f"values = [{names}]")
        joined = f'{separator}.join(str(v) for v in values if v not in (None, ""))'
        lines.append(f"data[{json.dumps(args['into'])}] = {joined}")
    return lines


def upcasters_view(domain: Domain) -> dict[str, Any]:
    imports = Imports()
    imports.add("acci", "EventRegistry")
    functions = []
    for event in domain.events:
        for older in event.versions:
            name = function_name(event, older.version)
            lines = [line for step in older.steps for line in step_lines(step)]
            if older.custom:
                imports.add(".custom", "upcasters")
            functions.append(
                {
                    "name": name,
                    "event": event.name,
                    "version": older.version,
                    "summary": _summary(older),
                    "lines": lines,
                    "custom": older.custom,
                }
            )
    if functions:
        imports.add("typing", "Any")
    return {"imports": imports.render(), "functions": functions}


def _summary(older: OldVersion) -> str:
    parts = [f"{s.kind} {_describe(s.args)}" for s in older.steps]
    if older.custom:
        parts.append("then the hand-written upcaster" if parts else "the hand-written upcaster")
    return "; ".join(parts) or "no change of shape"


def _describe(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{k}: {v}" if not isinstance(v, (dict, list)) else str(k) for k, v in args.items())
    if isinstance(args, list):
        return ", ".join(str(a) for a in args)
    return str(args)


def custom_stub_view(domain: Domain) -> dict[str, Any] | None:
    functions = [
        {"name": function_name(event, older.version), "event": event.name, "version": older.version}
        for event in domain.events
        for older in event.versions
        if older.custom
    ]
    return {"functions": functions} if functions else None


def evolution_tests_view(domain: Domain) -> dict[str, Any]:
    """One test per historic version: its sample stored raw, read back as the current class."""
    types = {t.name: t for t in domain.types}
    imports = Imports()
    imports.add("acci", "NewEvent", "PostgresEventStore", "StreamId")
    imports.add("..registry", "REGISTRY")
    tests = []
    for event in domain.events:
        chain = event.versions
        for index, older in enumerate(chain):
            stored = older.example if older.example is not None else sample_data(older.fields, types)
            later = chain[index:]
            custom = any(o.custom for o in later)
            expected = older.expected if older.example is not None else None
            if expected is not None:
                imports.add("..events", event.name)
            elif not custom:
                data = stored
                for step_version in later:
                    data = apply_to_data(step_version.steps, data)
                expected = data
                imports.add("..events", event.name)
            tests.append(
                {
                    "name": f"test_{snake(event.name)}_v{older.version}_reads_as_v{event.version}",
                    "event": event.name,
                    "aggregate": event.aggregate,
                    "version": older.version,
                    "current": event.version,
                    "stored": literal(stored, 4),
                    "expected": validate_call(event.name, expected, 4) if expected is not None else None,
                }
            )
    return {"imports": imports.render(), "tests": tests}
