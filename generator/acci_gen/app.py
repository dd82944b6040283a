"""One run of acci-gen over some domain files: load, validate, render, then plan and write."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from acci_gen.emit import render_domains
from acci_gen.errors import Diagnostic, DomainError
from acci_gen.evolution.lock import (
    compare_with_lock,
    lock_path,
    lock_text,
    read_lock,
    updated_lock,
    version_shapes,
)
from acci_gen.loader import load_file
from acci_gen.model import Domain
from acci_gen.output import MANIFEST, DomainOutput, Plan, manifest_text, plan, read_manifest
from acci_gen.validate import validate


@dataclass(frozen=True)
class Run:
    out: Path
    outputs: list[DomainOutput]
    plan: Plan
    #: Lock files (beside the domain files) that need the shapes of new event versions.
    locks: dict[Path, str]
    #: Read-model migrations this run adds, as paths below `out`.
    new_migrations: list[str]


def display_path(path: Path, out: Path) -> str:
    """The domain file's path as the headers name it: relative to the output directory's parent,
    so that the output does not depend on the working directory."""
    try:
        return Path(os.path.relpath(path.resolve(), out.resolve().parent)).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def load_domains(files: list[Path], out: Path) -> list[tuple[Domain, str]]:
    """Validated domains with the source path their headers use; DomainError lists every problem."""
    diagnostics: list[Diagnostic] = []
    domains: list[tuple[Domain, str]] = []
    seen: dict[str, str] = {}
    for path in files:
        shown = display_path(path, out)
        doc, problems = load_file(path, shown)
        diagnostics.extend(problems)
        if doc is None:
            continue
        domain, problems = validate(doc)
        diagnostics.extend(problems)
        if domain is None or not domain.name:
            continue
        if not problems:
            # Released event versions are frozen: the YAML must still declare them as released.
            shapes = version_shapes(domain)
            for issue in compare_with_lock(read_lock(lock_path(path)), shapes, domain):
                diagnostics.append(doc.error(issue.path, issue.message, issue.fix))
        if domain.name in seen:
            line, col = doc.pos(("domain",))
            diagnostics.append(
                Diagnostic(
                    shown,
                    line,
                    col,
                    "domain",
                    f"the domain '{domain.name}' is also defined in {seen[domain.name]}.",
                    "give each domain file its own 'domain:' name.",
                )
            )
            continue
        seen[domain.name] = shown
        domains.append((domain, shown))
    if diagnostics:
        raise DomainError(diagnostics)
    return domains


def prepare(files: list[Path], out: Path, *, allow_destructive: bool = False) -> Run:
    """Everything a run would write, without writing anything."""
    locks: dict[Path, str] = {}
    domains = load_domains(files, out)
    outputs = []
    new_migrations: list[str] = []
    for rendered in render_domains(domains, out, allow_destructive=allow_destructive):
        generated = dict(rendered.generated)
        generated[f"{rendered.domain}/{MANIFEST}"] = manifest_text(
            rendered.domain, rendered.source, generated, rendered.stubs
        )
        outputs.append(DomainOutput(rendered.domain, rendered.source, generated, rendered.stubs))
        if rendered.new_migration:
            new_migrations.append(rendered.new_migration)
    for path, (domain, _) in zip(files, domains, strict=True):
        lock_file = lock_path(path)
        locked = read_lock(lock_file)
        wanted = lock_text(domain.name, updated_lock(locked, version_shapes(domain)))
        current = lock_file.read_text(encoding="utf-8") if lock_file.exists() else None
        if current != wanted:
            locks[lock_file] = wanted
    names = {o.domain for o in outputs}
    removed = []
    if out.is_dir():
        for manifest in sorted(out.glob(f"*/{MANIFEST}")):
            data = read_manifest(manifest)
            if data is None or manifest.parent.name in names:
                continue
            recorded = data.get("source")
            if isinstance(recorded, str) and not (out.resolve().parent / recorded).exists():
                removed.append(manifest)
    return Run(out, outputs, plan(out, outputs, removed), locks, new_migrations)
