"""Renders a domain's read-model files: projections.py and queries.py."""

from __future__ import annotations

from typing import Any

from acci_gen.model import Domain
from acci_gen.readmodel.code import projections_view, queries_view, sql_constant, str_constant, strings_tuple


def render_readmodel(domain: Domain, header: str, environment: Any) -> dict[str, str]:
    """{path below the output directory: text} of the read-model modules (none without projections)."""
    if not domain.projections:
        return {}
    env = environment.overlay()
    env.filters["sql_constant"] = sql_constant
    env.filters["str_constant"] = str_constant
    env.filters["strings_tuple"] = strings_tuple
    local_types = {t.name for t in domain.types}

    def render(template: str, **context: Any) -> str:
        text: str = env.get_template(template).render(header=header, domain=domain, **context)
        return text.rstrip("\n") + "\n"

    pkg = domain.name
    return {
        f"{pkg}/projections.py": render("projections.py.jinja2", **projections_view(domain)),
        f"{pkg}/queries.py": render("queries.py.jinja2", **queries_view(domain, local_types)),
    }
