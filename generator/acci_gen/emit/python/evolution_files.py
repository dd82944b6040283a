"""Renders a domain's evolution files: upcasters.py (always, registered by registry.py), the
user-owned stub of hand-written upcasters, and the evolution tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acci_gen.emit.python.evolution import custom_stub_view, evolution_tests_view, upcasters_view
from acci_gen.model import Domain


@dataclass
class EvolutionFiles:
    generated: dict[str, str] = field(default_factory=dict)
    stubs: dict[str, str] = field(default_factory=dict)


def render_evolution(domain: Domain, header: str, environment: Any) -> EvolutionFiles:
    def render(template: str, **context: Any) -> str:
        text: str = environment.get_template(template).render(header=header, domain=domain, **context)
        return text.rstrip("\n") + "\n"

    pkg = domain.name
    files = EvolutionFiles()
    files.generated[f"{pkg}/upcasters.py"] = render("upcasters.py.jinja2", **upcasters_view(domain))
    stub = custom_stub_view(domain)
    if stub is not None:
        files.stubs[f"{pkg}/custom/upcasters.py"] = render("custom_upcasters.py.jinja2", **stub)
        files.stubs.setdefault(f"{pkg}/custom/__init__.py", render("custom_init.py.jinja2"))
    if any(event.versions for event in domain.events):
        files.generated[f"{pkg}/tests/test_{pkg}_evolution.py"] = render(
            "test_evolution.py.jinja2", **evolution_tests_view(domain)
        )
    return files
