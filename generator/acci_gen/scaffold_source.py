"""The template source that every installation of acci-gen can resolve.

Copier reads a template from a tagged git repository, and records where it was (`_src_path`) and
which tag (`_commit`) in the service's `.copier-answers.yml`; `copier update` needs both again,
the old version to tell the service's own edits from the template's. A path on the creator's
machine would not exist on a teammate's. So acci-gen records the same path for every service,
`~/.cache/acci/service-template` (copier expands the `~` for whoever runs it), and builds that
repository on demand, under a lock, from the template versions at hand: the one this acci-gen
ships and, for an upgrade, the one the service was made from (inside the ACCI wheel the service
carries, see acci_gen.scaffold_wheel). Commits are made with fixed names and dates, so the same
versions give the same repository on every machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from acci_gen.scaffold_git import BOT_IDENTITY, git

#: The template source recorded in every service acci-gen creates.
TEMPLATE_SOURCE = "~/.cache/acci/service-template"
_SKIPPED = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")
_POST = re.compile(r"^v(?P<version>.+?)(?:\.post(?P<post>\d+))?$")
# Fixed author and committer dates: the same template versions make the same commits anywhere.
_DATES = {"GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


@dataclass(frozen=True)
class TemplateVersion:
    """A template version: its tag, and a directory with copier.yml and templates/service/."""

    tag: str
    root: Path


def template_source_path() -> Path:
    return Path(TEMPLATE_SOURCE).expanduser()


@contextlib.contextmanager
def template_source_lock() -> Iterator[Path]:
    """Hold the lock of the template source for the whole copier run (other acci-gen processes
    rebuild it); yields its path."""
    path = template_source_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield path
        return
    with (path.parent / f".{path.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_template_source(path: Path, versions: Sequence[TemplateVersion]) -> Path:
    """Make `path` a git repository with one commit per version, in order, each tagged."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    git(path, "init", "--quiet")
    for version in versions:
        _sync_tree(version.root, path)
        git(path, "add", "--all", ".")
        git(path, *BOT_IDENTITY, "commit", "--quiet", "--allow-empty", "--no-verify", "--no-gpg-sign",
            "-m", f"ACCI service template {version.tag}", env=_DATES)  # fmt: skip
        git(path, "tag", version.tag)
    return path


def next_tag(old_tag: str | None, version: str, changed: bool) -> str:
    """The tag of the template this acci-gen ships: `v<version>`; while the version stays the
    same but the template changed (development builds), `v<version>.post<N+1>`."""
    if old_tag is None:
        return f"v{version}"
    match = _POST.match(old_tag)
    if match is None or match["version"] != version:
        return f"v{version}"
    if not changed:
        return old_tag
    return f"v{version}.post{int(match['post'] or 0) + 1}"


def template_digest(root: Path) -> str:
    """A hash of the template's files (names, content, executable bits)."""
    digest = hashlib.sha256()
    for name, path in template_files(root).items():
        digest.update(name.encode() + b"\0" + _mode(path.read_bytes()).to_bytes(2, "big") + path.read_bytes())
    return digest.hexdigest()


def template_files(root: Path) -> dict[str, Path]:
    """copier.yml and every file below templates/service/, by posix path relative to `root`."""
    files = {"copier.yml": root / "copier.yml"}
    for path in sorted((root / "templates" / "service").rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIPPED for part in rel.parts) or path.suffix in (".pyc", ".pyo"):
            continue
        if path.is_file():
            files[rel.as_posix()] = path
    return files


def _mode(data: bytes) -> int:
    # Scripts stay executable even where packaging lost the mode bits (a wheel may).
    return 0o755 if data.startswith(b"#!") else 0o644


def _sync_tree(source: Path, repository: Path) -> None:
    """Make the work tree of `repository` hold exactly the template files of `source`."""
    for child in repository.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for name, origin in template_files(source).items():
        target = repository / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = origin.read_bytes()
        target.write_bytes(data)
        target.chmod(_mode(data))
