"""Renders a domain's read-model files: projections.py and queries.py."""

from __future__ import annotations

from typing import Any

from acci_gen.emit.python.exprs import Imports
from acci_gen.emit.python.readmodel_tests import tests_view
from acci_gen.emit.python.readmodels import (
    custom_projections_view,
    projections_view,
    queries_view,
    sql_constant,
    str_constant,
    strings_tuple,
)
from acci_gen.model import Domain


def render_custom_projections(domain: Domain, environment: Any) -> dict[str, str]:
    """The user-owned stub of hand-written projection handlers (written once, never again)."""
    view = custom_projections_view(domain)
    if view is None:
        return {}
    text: str = environment.get_template("custom_projections.py.jinja2").render(domain=domain, **view)
    package: str = environment.get_template("custom_init.py.jinja2").render(domain=domain)
    return {
        f"{domain.name}/custom/projections.py": text.rstrip("\n") + "\n",
        f"{domain.name}/custom/__init__.py": package.rstrip("\n") + "\n",
    }


def render_readmodel(domain: Domain, header: str, environment: Any) -> dict[str, str]:
    """{path below the output directory: text} of the read-model modules and the service module."""
    env = environment.overlay()
    env.filters["sql_constant"] = sql_constant
    env.filters["str_constant"] = str_constant
    env.filters["strings_tuple"] = strings_tuple
    local_types = {t.name for t in domain.types}

    def render(template: str, **context: Any) -> str:
        text: str = env.get_template(template).render(header=header, domain=domain, **context)
        return text.rstrip("\n") + "\n"

    pkg = domain.name
    files = {f"{pkg}/service.py": render("service.py.jinja2", **_service_view(domain))}
    if domain.projections:
        files[f"{pkg}/projections.py"] = render("projections.py.jinja2", **projections_view(domain))
        files[f"{pkg}/queries.py"] = render("queries.py.jinja2", **queries_view(domain, local_types))
        files[f"{pkg}/tests/test_{pkg}_read_models.py"] = render(
            "test_read_models.py.jinja2", **tests_view(domain)
        )
    return files


def _service_view(domain: Domain) -> dict[str, Any]:
    imports = Imports()
    imports.add("acci.service", "Service")
    imports.add(".registry", "REGISTRY")
    if domain.projections:
        imports.add("importlib", "resources")
        imports.add("acci.migrations", "Migration", "load_migrations")
        imports.add(".projections", "PROJECTIONS")
    return {"imports": imports.render(), "has_read_models": bool(domain.projections)}
