"""Schema evolution: upcasters.py (one function per version step, registered by the registry), the
user-owned stub of hand-written upcasters, and the evolution tests (stored payloads as data)."""

from __future__ import annotations

from typing import Any

from acci_gen import names
from acci_gen.emit.python.pytypes import decimal_value
from acci_gen.emit.python.samples import sample_data
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_docstring, py_str, py_value
from acci_gen.evolution.steps import OldVersion, Step, apply_to_data, conversion
from acci_gen.model import Domain, Event


def function_name(event: Event, version: int) -> str:
    return f"{names.snake(event.name)}_v{version}_to_v{version + 1}"


def step_lines(step: Step) -> list[Code]:
    """Python lines that do one step to `data` (a copy of the payload), like steps.apply_to_data."""
    args = step.args
    lines: list[str] = []
    if step.kind == "add":
        for name, value in args.items():
            lines.append(f"data.setdefault({py_str(name)}, {py_value(value)})")
    elif step.kind == "rename":
        for old, new in args.items():
            lines.append(f"if {py_str(old)} in data:")
            lines.append(f"    data[{py_str(new)}] = data.pop({py_str(old)})")
    elif step.kind == "remove":
        for name in args:
            lines.append(f"data.pop({py_str(name)}, None)")
    elif step.kind == "map":
        for name, table in args.items():
            key = py_str(name)
            unit = conversion(table)
            if unit is not None:
                op, source, factor = unit
                operator = "/" if op == "divide" else "*"
                lines.append(f"if data.get({py_str(source)}) is not None:")
                lines.append(
                    f"    data[{key}] = str(Decimal(str(data[{py_str(source)}])) {operator} "
                    f"{decimal_value(factor)})"
                )
                continue
            lines.append(f"renamed = {py_value(table)}")
            lines.append(f"if data.get({key}) in renamed:")
            lines.append(f"    data[{key}] = renamed[data[{key}]]")
    elif step.kind == "split":
        into = args["into"]
        separator = py_str(args.get("separator", " "))
        lines.append(f"whole = data.pop({py_str(args['field'])}, None)")
        lines.append(f"parts = [] if whole is None else str(whole).split({separator}, {len(into) - 1})")
        for index, name in enumerate(into):
            lines.append(f'data[{py_str(name)}] = parts[{index}] if len(parts) > {index} else ""')
    elif step.kind == "combine":
        separator = py_str(args.get("separator", " "))
        popped = ", ".join(f"data.pop({py_str(n)}, None)" for n in args["fields"])
        lines.append(f"values = [{popped}]")
        lines.append(
            f'data[{py_str(args["into"])}] = {separator}.join(str(v) for v in values if v not in (None, ""))'
        )
    return [Code(line) for line in lines]


def render_evolution(domain: Domain, header: Code) -> tuple[dict[str, str], dict[str, str]]:
    """(generated files, user-owned stubs) of the domain's schema evolution."""
    pkg = domain.name
    generated = {
        f"{pkg}/upcasters.py": render(
            "upcasters.py.jinja2", header=header, domain=domain, **upcasters_view(domain)
        )
    }
    stubs = {}
    custom = [
        {
            "name": function_name(event, older.version),
            "event": event.name,
            "version": older.version,
            "message": (
                f"write {function_name(event, older.version)}() in {pkg}/custom/upcasters.py: "
                f"it turns {event.name} v{older.version} data into v{older.version + 1}"
            ),
        }
        for event in domain.events
        for older in event.versions
        if older.custom
    ]
    if custom:
        stubs[f"{pkg}/custom/upcasters.py"] = render(
            "custom_upcasters.py.jinja2", domain=domain, functions=custom
        )
        stubs[f"{pkg}/custom/__init__.py"] = render("custom_init.py.jinja2", domain=domain)
    cases = upcast_cases(domain)
    if cases:
        generated[f"{pkg}/tests/test_{pkg}_evolution.py"] = render(
            "test_evolution.py.jinja2", header=header, domain=domain, cases=cases
        )
    return generated, stubs


def upcasters_view(domain: Domain) -> dict[str, Any]:
    functions = []
    for event in domain.events:
        for older in event.versions:
            summary = f"{event.name} v{older.version} -> v{older.version + 1}: {_summary(older)}."
            functions.append(
                {
                    "name": function_name(event, older.version),
                    "event": event.name,
                    "version": older.version,
                    "doc": py_docstring(summary),
                    "lines": [line for step in older.steps for line in step_lines(step)],
                    "custom": older.custom,
                }
            )
    return {
        "functions": functions,
        "custom": any(f["custom"] for f in functions),
        "uses_decimal": any("Decimal(" in str(f["lines"]) for f in functions),
    }


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


def upcast_cases(domain: Domain) -> list[Code]:
    """One `Upcast(...)` per older version: its sample (or example) payload and what it reads as
    (None where a hand-written upcaster decides and the domain file gives no expectation)."""
    types = {t.name: t for t in domain.types}
    cases = []
    for event in domain.events:
        for index, older in enumerate(event.versions):
            stored = older.example if older.example is not None else sample_data(older.fields, types)
            expected = older.expected if older.example is not None else None
            later = event.versions[index:]
            if expected is None and not any(o.custom for o in later):
                expected = stored
                for step_version in later:
                    expected = apply_to_data(step_version.steps, expected)
            parts = [py_str(event.name), str(older.version), f"stored={py_value(stored)}"]
            if expected is not None:
                parts.append(f"expected={py_value(expected)}")
            cases.append(Code(f"Upcast({', '.join(parts)})"))
    return cases
