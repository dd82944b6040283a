"""`acci-gen docs`: load and check the domain files, render each as Markdown (emit.docs), write
`<out>/<domain>.md`. The output is deterministic: the same domain file gives the same bytes,
wherever it is written."""

from __future__ import annotations

import os
from pathlib import Path

from acci_gen.app import load_domains
from acci_gen.emit.docs.markdown import render_domain_doc
from acci_gen.output import atomic_write

__all__ = ["render_docs", "render_domain_doc", "write_docs"]


def write_docs(domain_files: list[Path], out_dir: Path, *, source_root: Path | None = None) -> list[Path]:
    """Validate the domain files and write `<out_dir>/<domain>.md` for each; return the paths.

    The header names each domain file relative to `source_root` (default: the parent of the
    file's directory, so `domains/identity.yaml`). Raises DomainError, writing nothing, when a
    domain file has errors.
    """
    rendered = render_docs(domain_files, source_root=source_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered.items():
        path = out_dir / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            atomic_write(path, text)
        written.append(path)
    return written


def render_docs(domain_files: list[Path], *, source_root: Path | None = None) -> dict[str, str]:
    """The Markdown of each domain, by file name (`<domain>.md`), without writing anything."""
    # load_domains uses the output directory only to shorten the paths in error messages; it
    # raises on any error, so without one there is a domain per file, in order.
    domains = load_domains(domain_files, Path.cwd() / "docs")
    result: dict[str, str] = {}
    for path, (domain, _) in zip(domain_files, domains, strict=True):
        result[f"{domain.name}.md"] = render_domain_doc(domain, _display(path, source_root))
    return dict(sorted(result.items()))


def _display(path: Path, source_root: Path | None) -> str:
    root = (source_root or path.resolve().parent.parent).resolve()
    try:
        return Path(os.path.relpath(path.resolve(), root)).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()
