"""One run of acci-gen, as its pipeline: load -> check -> model -> render -> write.

    domain files --spec.load_domain--> acci_gen.model.Domain   (load, shape and meaning checks)
                 --emit.render_domains--> files by path          (render: code, migrations, tests)
                 --plan-->              output.Plan              (what would change on disk)
                 --apply-->             the output directory     (write: atomic, manifests last)

`prepare()` runs every stage but the last; `generate()` runs them all. The command line
(`acci_gen.cli`) and the service scaffolding (`acci-gen new`/`upgrade`) both call `generate()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from acci_gen.emit import render_domains
from acci_gen.errors import Diagnostic, DomainError, GenerationError
from acci_gen.model import Domain
from acci_gen.output import (
    MANIFEST,
    DomainOutput,
    Plan,
    apply,
    atomic_write,
    manifest_text,
    plan,
    read_manifest,
)
from acci_gen.spec import load_domain
from acci_gen.spec.lock import lock_path, lock_text, read_lock, updated_lock, version_shapes
from acci_gen.spec.public_lock import public_shapes, read_public_lock, updated_public_lock


@dataclass(frozen=True)
class Run:
    """Everything one run would change, before anything is written."""

    out: Path
    outputs: list[DomainOutput]
    plan: Plan
    #: Lock files (beside the domain files) that need the shapes of new event versions.
    locks: dict[Path, str]
    #: Read-model migrations this run adds, as paths below `out`.
    new_migrations: list[str]


@dataclass(frozen=True)
class Result:
    """What `generate()` did."""

    run: Run
    #: False when generated files were edited by hand and `force` was not given: nothing was written.
    written: bool

    @property
    def edited(self) -> list[str]:
        return self.run.plan.edited

    def report(self) -> list[str]:
        """What changed, one line per file, for people."""
        out, result = self.run.out, self.run.plan
        lines = [
            f"note: {out / rel} is user-owned and no longer used; delete it if you do not need it."
            for rel in result.unused_stubs
        ]
        if not self.written:
            return lines
        lines += [f"wrote {out / rel}" for rel in sorted(result.write)]
        migrations = set(self.run.new_migrations)
        for rel in sorted(result.create):
            if rel in migrations:
                lines.append(
                    f"created {out / rel} (a read-model migration: commit it; never edit it once applied)"
                )
            else:
                lines.append(f"created {out / rel} (user-owned: edit it, acci-gen will not overwrite it)")
        lines += [
            f"recorded the released event shapes in {lock} (commit it)" for lock in sorted(self.run.locks)
        ]
        lines += [f"deleted {out / rel}" for rel in result.delete]
        if not result.changes:
            lines.append(f"acci-gen: {out}/ was already up to date.")
        return lines


def domain_files(folder: Path) -> list[Path]:
    """The domain files of a folder: every *.yaml and *.yml in it."""
    return sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))


def display_path(path: Path, out: Path) -> str:
    """The domain file's path as the headers name it: relative to the output directory's parent,
    so that the output does not depend on the working directory."""
    try:
        return Path(os.path.relpath(path.resolve(), out.resolve().parent)).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def load_domains(files: list[Path], out: Path) -> list[tuple[Domain, str]]:
    """Load and check every file: the domains with the source path their headers use, or a
    DomainError with every problem of every file."""
    diagnostics: list[Diagnostic] = []
    domains: list[tuple[Domain, str]] = []
    seen: dict[str, str] = {}
    for path in files:
        shown = display_path(path, out)
        loaded = load_domain(path, shown)
        diagnostics += loaded.diagnostics
        domain = loaded.domain
        if domain is None or not domain.name or loaded.doc is None:
            continue
        if domain.name in seen:
            diagnostics.append(
                loaded.doc.error(
                    ("domain",),
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
        wanted = lock_text(
            domain.name,
            updated_lock(read_lock(lock_file), version_shapes(domain)),
            updated_public_lock(read_public_lock(lock_file), public_shapes(domain)),
        )
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


class WriteError(GenerationError):
    """The output could not be written; every file is whole (old or new), the manifests are not
    updated, and running generate again finishes the job."""


def generate(files: list[Path], out: Path, *, force: bool = False, allow_destructive: bool = False) -> Result:
    """Generate the packages of `files` below `out`, with their lock files.

    Raises DomainError (nothing written) when the domain files have problems, GenerationError when
    there are no files, WriteError when the disk refuses. Generated files edited by hand are left
    alone, and nothing is written, unless `force` is given (`Result.written` says which).
    """
    if not files:
        raise GenerationError("no domain files were given.")
    run = prepare(files, out, allow_destructive=allow_destructive)
    if run.plan.edited and not force:
        return Result(run, written=False)
    try:
        apply(out, run.plan)
        for lock, text in sorted(run.locks.items()):
            atomic_write(lock, text)
    except OSError as error:
        raise WriteError(
            f"could not write the output: {error}. Every file is either as before or complete; "
            "fix the cause and run `acci-gen generate` again."
        ) from error
    return Result(run, written=True)
