"""The runtime's imports point one way: domain model <- store <- application <- operations <- the
public surface.

Every import counts, also those under TYPE_CHECKING and inside functions: a module may import
from its own layer or from a lower one, never from a higher one. A new module has to be placed
in a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import acci

RUNTIME = Path(acci.__file__).parent

# Lowest first. A name stands for the module and everything below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "domain model",
        ("acci.errors", "acci.streams", "acci.events", "acci.registry", "acci.aggregate", "acci._gcpause"),
    ),
    # Settings, metrics, logs and traces: what every layer above may report to or read.
    ("instrumentation", ("acci.settings", "acci.metrics", "acci.logs", "acci.tracing")),
    ("store", ("acci.store", "acci.migrations", "acci.database", "acci.stores", "acci.tenants")),
    (
        "application",
        (
            "acci.repository",
            "acci.commands",
            "acci.multi",
            "acci.projections",
            "acci.policies",
            "acci.queries",
            "acci.integration",
        ),
    ),
    (
        "operations",
        (
            "acci.service",
            "acci.health",
            "acci.upgrade",
            "acci.testing",
            "acci._testdb",
            "acci._slowtests",
            "acci._progress",
            "acci.monitoring",
            "acci.run",
            "acci.tenants.moves",
            "acci.run_integration",
            "acci.http",
        ),
    ),
    # The package's re-exports, and the code written against them like a user's.
    ("public surface", ("acci", "acci.cli", "acci.demo", "acci.examples")),
]


def layer_of(module: str) -> int:
    """The index of the layer of `module` (the longest matching name wins)."""
    best: tuple[int, int] | None = None
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > best[0]):
                best = (len(name), index)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(RUNTIME.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every acci module `path` imports (`from acci import metrics` imports acci.metrics)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            package = RUNTIME.parent / node.module.replace(".", "/")
            submodules = [a.name for a in node.names if (package / f"{a.name}.py").exists()]
            found.update(f"{node.module}.{name}" for name in submodules)
            if len(submodules) < len(node.names):
                found.add(node.module)
    return {name for name in found if name == "acci" or name.startswith("acci.")}


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for path in sorted(RUNTIME.rglob("*.py")):
        importer = module_name(path)
        for imported in sorted(imported_modules(path)):
            if layer_of(imported) > layer_of(importer):
                wrong.append(
                    f"{importer} ({LAYERS[layer_of(importer)][0]}) imports {imported} "
                    f"({LAYERS[layer_of(imported)][0]})"
                )
    assert wrong == []


def test_the_domain_model_imports_nothing_of_storage_or_projections() -> None:
    for name in LAYERS[0][1]:
        path = RUNTIME.parent / (name.replace(".", "/") + ".py")
        assert not {m for m in imported_modules(path) if layer_of(m) > 1}, name
