"""The meaning checks: everything about a domain file its shape cannot say (references between
items, types that fit, names, evolution, read-model consistency), one module per section. They
build the model the renderers read (`acci_gen.model`) from the language's validated models, and
report every problem at once."""

from __future__ import annotations

from pathlib import Path

from acci_gen.errors import Diagnostic
from acci_gen.model import Domain
from acci_gen.names import generated_class_problems, module_problem
from acci_gen.spec.checks.aggregates import check_aggregates, check_events
from acci_gen.spec.checks.commands import check_commands
from acci_gen.spec.checks.context import Context
from acci_gen.spec.checks.evolution import check_compatibility
from acci_gen.spec.checks.fields import check_types
from acci_gen.spec.checks.http import check_http
from acci_gen.spec.checks.integration import check_integration
from acci_gen.spec.checks.projections import check_projections
from acci_gen.spec.checks.queries import check_queries
from acci_gen.spec.checks.scenarios import check_coverage, check_scenarios
from acci_gen.spec.loader import Document
from acci_gen.spec.shape import Shaped


def check(doc: Document, shaped: Shaped, base: Path | None = None) -> tuple[Domain | None, list[Diagnostic]]:
    """The domain model of a shaped document, and every problem of its meaning; `base` is the
    folder the paths in the document are relative to (vendored contracts; default: the working
    directory)."""
    spec = shaped.spec
    if spec is None:
        return None, []
    ctx = Context(doc, shaped)
    domain = Domain(
        name=spec.domain if shaped.named else "",
        source=doc.file,
        description=spec.description or "",
        compatibility=spec.compatibility,
    )
    if shaped.named:
        problem = module_problem(spec.domain)
        if problem:
            ctx.error(("domain",), problem[0], problem[1])
    # In this order: each section refers only to the ones before it (scenarios to all).
    check_types(ctx, spec.types or {}, domain)
    check_aggregates(ctx, spec.aggregates or {}, domain)
    check_events(ctx, spec.events or {}, domain)
    check_commands(ctx, spec.commands or {}, domain)
    check_projections(ctx, spec.projections or {}, domain)
    check_queries(ctx, spec.queries or {}, domain)
    check_http(ctx, spec.commands or {}, domain)
    check_scenarios(ctx, spec.scenarios or [], domain)
    check_coverage(ctx, domain)
    check_integration(ctx, spec, domain, base)
    for path, message, fix in generated_class_problems(domain):
        ctx.error(path, message, fix, key=True)
    for event in domain.events:
        check_compatibility(ctx, event, domain.compatibility)
    return domain, ctx.diagnostics
