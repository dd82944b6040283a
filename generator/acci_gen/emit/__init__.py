"""The emit stage: checked domains rendered into files (Python, SQL, Markdown), the Python of a
whole run formatted by ruff in one go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from acci_gen.emit.asyncapi import render_asyncapi
from acci_gen.emit.formatting import format_python
from acci_gen.emit.openapi import openapi_documents
from acci_gen.emit.python.api import render_api
from acci_gen.emit.python.domain import header, render_package
from acci_gen.emit.python.evolution import render_evolution
from acci_gen.emit.python.integration import has_integration, render_integration
from acci_gen.emit.python.policies import render_policies
from acci_gen.emit.python.tests import render_tests
from acci_gen.emit.readmodels import readmodel_files
from acci_gen.emit.templating import render
from acci_gen.errors import Diagnostic, DomainError
from acci_gen.model import Domain


@dataclass
class DomainFiles:
    """What a domain renders to, by path below the output directory: generated files (rewritten
    on every run) and user-owned files (written once: stubs, read-model migrations)."""

    domain: str
    source: str
    generated: dict[str, str]
    stubs: dict[str, str]
    #: The read-model migration this run adds, if any (a path below the output directory).
    new_migration: str | None = None


def render_domains(
    domains: list[tuple[Domain, str]], out: Path, *, allow_destructive: bool = False
) -> list[DomainFiles]:
    """Every file of every domain (by domain, with the source path its headers name); DomainError
    when a read model changed destructively and that is not allowed."""
    results: list[DomainFiles] = []
    problems: list[Diagnostic] = []
    for domain, source in domains:
        head = header(source)
        generated, stubs = render_package(domain, source)
        generated[f"{domain.name}/tests/test_{domain.name}.py"] = render_tests(domain, head)
        generated[f"{domain.name}/api.py"] = render_api(domain, head)
        if domain.scenarios:
            generated[f"{domain.name}/tests/test_{domain.name}_http.py"] = render(
                "test_http.py.jinja2",
                header=head,
                domain=domain,
                # If-Match is tried on the scenarios that change an existing aggregate successfully.
                if_match=any(s.given and s.then_error is None for s in domain.scenarios),
            )
        generated.update(render_policies(domain, head))
        evolution, evolution_stubs = render_evolution(domain, head)
        generated.update(evolution)
        if has_integration(domain):
            generated[f"{domain.name}/integration.py"] = render_integration(domain, head)
            generated[f"{domain.name}/asyncapi.yaml"] = render_asyncapi(domain, head)
        stubs.update(evolution_stubs)
        read_models = readmodel_files(domain, source, head, out, allow_destructive=allow_destructive)
        problems += read_models.problems
        generated.update(read_models.generated)
        stubs.update(read_models.stubs)
        stubs.update(read_models.migrations)
        new = f"{domain.name}/migrations/{read_models.new_migration}" if read_models.new_migration else None
        results.append(DomainFiles(domain.name, source, generated, stubs, new))
    if problems:
        raise DomainError(problems)
    _format(results)
    files = {rel: text for result in results for rel, text in {**result.stubs, **result.generated}.items()}
    documents = openapi_documents(files, {domain.name: domain.description for domain, _ in domains})
    for result in results:
        result.generated[f"{result.domain}/openapi.json"] = documents[result.domain]
    return results


def _format(results: list[DomainFiles]) -> None:
    """Run ruff once over the Python of every domain (generated files and stubs alike)."""
    python = {
        f"{kind}/{rel}": text
        for result in results
        for kind, files in (("generated", result.generated), ("stubs", result.stubs))
        for rel, text in files.items()
        if rel.endswith(".py")
    }
    for key, text in format_python(python).items():
        kind, rel = key.split("/", 1)
        for result in results:
            files = result.generated if kind == "generated" else result.stubs
            if rel in files:
                files[rel] = text
