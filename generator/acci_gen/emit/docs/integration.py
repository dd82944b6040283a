"""The "Integration events" section of a domain's docs: what it publishes (each public event with
its versions, mapping and conditions) and what it consumes (the command each public event
becomes). The contract, with the JSON Schema of each public version, is
`generated/<domain>/asyncapi.yaml`."""

from __future__ import annotations

import json
from collections.abc import Callable

from acci_gen.emit.text import md_code, md_text
from acci_gen.model import Domain, Expr, Field

TITLE = "Integration events"


def integration_section(domain: Domain, fields_table: Callable[[list[Field]], list[str]]) -> list[str]:
    if not (domain.integration_events or domain.consumes):
        return []
    lines = [
        f"## {TITLE}",
        "",
        f"The contract is `generated/{domain.name}/asyncapi.yaml` (AsyncAPI 3, with the JSON Schema of "
        "each public version); the service publishes with `python -m <service> relay` and consumes "
        "with `python -m <service> consume`.",
        "",
    ]
    for named in domain.public_types:
        lines += [f"### {named.name} (public type)", ""]
        if named.description:
            lines += [md_text(named.description), ""]
        if named.is_enum:
            lines += [f"Values: {', '.join(md_code(v) for v in named.values or [])}.", ""]
        else:
            lines += fields_table(named.fields)
    for public in domain.integration_events:
        lines += [f"### {public.name} (published)", ""]
        if public.description:
            lines += [md_text(public.description), ""]
        lines += [
            "| | |",
            "|---|---|",
            f"| Subject | `{domain.name}.<tenant>.{public.name}` |",
            f"| From | {md_code(public.event)} |",
            f"| Version | {public.version} (published) |",
        ]
        if public.versions:
            lines.append(f"| Older versions | {', '.join(f'v{v.version}' for v in public.versions)} |")
        lines += [f"| When | {md_code(c.text)} |" for c in public.conditions]
        lines.append(f"| Mapping | {_mapping(public.mapping)} |")
        lines.append("")
        for version in public.all_versions():
            lines += [f"#### {public.name} v{version.version}", ""]
            if version.description and version.version != public.version:
                lines += [md_text(version.description), ""]
            lines += fields_table(version.fields)
    for consumption in domain.consumes:
        for consumed in consumption.events:
            lines += [f"### {consumption.domain}: {consumed.name} v{consumed.version} (consumed)", ""]
            lines += [
                "| | |",
                "|---|---|",
                f"| Subject | `{consumption.domain}.<tenant>.{consumed.name}` |",
                f"| Contract | {md_code(consumption.contract)} |",
                f"| Becomes | {md_code(consumed.command)} |",
            ]
            lines += [f"| When | {md_code(c.text)} |" for c in consumed.conditions]
            lines.append(f"| Mapping | {_mapping(consumed.mapping)} |")
            lines.append("")
            lines += fields_table(consumed.fields)
    return lines


def _mapping(mapping: list[tuple[str, Expr]]) -> str:
    return ", ".join(f"{md_code(name)} ← {md_code(_source(expr))}" for name, expr in mapping) or "none"


def _source(expr: Expr) -> str:
    if expr.source == "literal":
        return json.dumps(expr.literal, ensure_ascii=False, default=str)
    return f"{expr.source}.{expr.name}"
