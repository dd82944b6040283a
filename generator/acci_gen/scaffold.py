"""`acci-gen new` and `acci-gen upgrade`: create a service from the copier template, and bring a
newer template version into an existing service.

Copier can update a service only from a template that is a tagged git repository (a template
inside an installed wheel has no .git). So, unless another source is named, `new_service` keeps a
local git mirror of the template this acci-gen ships (`template_mirror()`), commits its content
there and tags it `v<version>`; the service's `.copier-answers.yml` records that mirror as
`_src_path`, which later `upgrade_service` calls reach.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped, unused-ignore]

import acci_gen
from acci_gen import __version__
from acci_gen.scaffold_git import BOT_EMAIL, commit_all, git, status_lines, work_tree_root

#: Where the template lives inside an installed acci_gen (the wheel's force-include target).
PACKAGED_TEMPLATE = Path(acci_gen.__file__).resolve().parent / "_template"
#: The environment variable that overrides where the template mirror is kept.
TEMPLATE_HOME_ENV = "ACCI_TEMPLATE_HOME"
ANSWERS_FILE = ".copier-answers.yml"
#: The marker copier writes into a file whose update conflicted (`--conflict inline`).
CONFLICT_MARKER = "<<<<<<< before updating"
_SKIPPED = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")
_PLAIN_RELEASE = re.compile(r"^\d+(\.\d+)*$")


class ScaffoldError(Exception):
    """`new`/`upgrade` cannot go on; the message says why and what to do."""


# -- the template and its mirror ----------------------------------------------------------------


def template_root() -> Path:
    """The directory with `copier.yml` and `templates/service/`: the copy packaged into acci_gen
    first, else the source checkout acci_gen runs from."""
    for root in (PACKAGED_TEMPLATE, source_checkout()):
        if root is not None and (root / "copier.yml").is_file() and (root / "templates" / "service").is_dir():
            return root
    raise ScaffoldError(
        f"the service template is missing: neither {PACKAGED_TEMPLATE} nor a source checkout has "
        "copier.yml and templates/service/. Reinstall acci[gen], or pass --template-source."
    )


def source_checkout() -> Path | None:
    """The ACCI repository acci_gen is imported from, if it runs from one (not from a wheel)."""
    root = Path(acci_gen.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or not (root / "runtime" / "acci").is_dir():
        return None
    if not re.search(r'(?m)^name\s*=\s*"acci"\s*$', pyproject.read_text(encoding="utf-8")):
        return None
    return root


def template_home() -> Path:
    """Where the template mirror is kept: $ACCI_TEMPLATE_HOME, else $XDG_DATA_HOME/acci/template,
    else ~/.local/share/acci/template."""
    explicit = os.environ.get(TEMPLATE_HOME_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    data = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data).expanduser() if data else Path.home() / ".local" / "share"
    return (base / "acci" / "template").resolve()


@dataclass(frozen=True)
class TemplateMirror:
    """The git repository copier reads the template from, and the tag of the current content."""

    path: Path
    tag: str


def template_mirror(home: Path | None = None, *, source: Path | None = None) -> TemplateMirror:
    """Bring the mirror up to date with the template this acci-gen ships and return it.

    The mirror's work tree is made equal to `source` (default: `template_root()`); a change is
    committed and tagged `v<version>` (or `v<version>.postN` when that tag already names other
    content, as happens while the template is developed). Idempotent, safe to run concurrently,
    and never leaves the mirror dirty (copier would otherwise include uncommitted changes and
    record a commit that exists nowhere).
    """
    home = (home or template_home()).resolve()
    source = (source or template_root()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home.parent / f".{home.name}.lock"):
        if not (home / ".git").is_dir():
            git(home, "init", "--quiet")
        _sync_tree(source, home)
        if status_lines(home):
            commit_all(home, f"ACCI service template of acci-gen {__version__}", bot=True)
        at_head = git(home, "tag", "--points-at", "HEAD").stdout.split()
        if at_head:
            return TemplateMirror(home, sorted(at_head, key=_tag_key)[-1])
        existing = set(git(home, "tag", "--list").stdout.split())
        tag = _new_tag(existing)
        git(home, "tag", tag)
        return TemplateMirror(home, tag)


def _new_tag(existing: set[str]) -> str:
    base = f"v{__version__}"
    if base not in existing:
        return base
    number = 1
    while True:
        if _PLAIN_RELEASE.match(__version__):
            candidate = f"{base}.post{number}"  # PEP 440: sorts after v<version>
        else:
            joiner = "." if "+" in __version__ else "+"
            candidate = f"{base}{joiner}mirror.{number}"
        if candidate not in existing:
            return candidate
        number += 1


def _tag_key(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", tag))


def _template_files(source: Path) -> dict[str, Path]:
    """copier.yml and every file below templates/service/, by posix path relative to `source`."""
    files = {"copier.yml": source / "copier.yml"}
    service = source / "templates" / "service"
    for path in sorted(service.rglob("*")):
        rel = path.relative_to(source)
        if any(part in _SKIPPED for part in rel.parts) or path.suffix in (".pyc", ".pyo"):
            continue
        if path.is_file():
            files[rel.as_posix()] = path
    return files


def _sync_tree(source: Path, mirror: Path) -> None:
    wanted = _template_files(source)
    for path in sorted(mirror.rglob("*"), reverse=True):
        rel = path.relative_to(mirror)
        if rel.parts[0] == ".git":
            continue
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif rel.as_posix() not in wanted:
            path.unlink()
    for name, origin in wanted.items():
        target = mirror / name
        data = origin.read_bytes()
        # Scripts stay executable even where packaging lost the mode bits (a wheel may).
        mode = 0o755 if data.startswith(b"#!") else 0o644
        if target.is_file() and target.read_bytes() == data and stat.S_IMODE(target.stat().st_mode) == mode:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
    for path in sorted(mirror.rglob("*"), reverse=True):
        if path.is_dir() and ".git" not in path.relative_to(mirror).parts and not any(path.iterdir()):
            path.rmdir()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (where the platform has fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- new ----------------------------------------------------------------------------------------


def default_acci_requirement() -> str:
    """`acci @ file:///...` when acci-gen runs from a source checkout (so that a new service can
    install the unpublished runtime), else plain `acci`."""
    root = source_checkout()
    return f"acci @ {root.as_uri()}" if root is not None else "acci"


def new_service(
    target: Path,
    *,
    data: Mapping[str, str],
    template_source: str | None = None,
    vcs_ref: str | None = None,
    generate: bool = True,
    git_init: bool = True,
    trust: bool = False,
) -> Path:
    """Create a service in `target` from the template and return its path.

    `data` answers the template's questions (project_name, package, python_version,
    database_url, acci_requirement); unanswered ones take their defaults, and project_name
    defaults to the directory's name. Without `template_source` the template comes from the
    mirror of the template this acci-gen ships (see `template_mirror`); otherwise from that git
    URL or path, at `vcs_ref` (default: its latest tag). Then, with `generate`, acci-gen generates
    the starter domain into generated/; with `git_init`, a target outside any git repository
    becomes one with a first commit, as `copier update` needs later.
    """
    from copier import run_copy
    from copier.errors import CopierError

    target = Path(target).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} exists and is not empty; name a new directory for the service.")
    answers: dict[str, str] = {"project_name": target.name, **data}
    ref: str | None
    if template_source is None:
        mirror = template_mirror()
        source = str(mirror.path)
        ref = vcs_ref or mirror.tag
        answers.setdefault("acci_requirement", default_acci_requirement())
    else:
        source, ref = template_source, vcs_ref
    created = not target.exists()
    try:
        run_copy(source, target, data=answers, vcs_ref=ref, defaults=True, quiet=True, unsafe=trust)
    except (CopierError, ValueError) as error:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        elif target.is_dir():  # it was empty: leave it empty again
            for child in target.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        raise ScaffoldError(f"cannot create the service from {source}: {error}") from error
    if generate:
        generate_service(target)
    if git_init and work_tree_root(target) is None:
        git(target, "init", "--quiet")
        commit_all(target, f"Create {answers['project_name']} from the ACCI service template")
    return target


def generate_service(target: Path, *, force: bool = False) -> None:
    """Run `acci-gen generate` on the service's domains/ into its generated/."""
    from acci_gen.app import domain_files, generate
    from acci_gen.errors import DomainError, GenerationError

    try:
        result = generate(domain_files(target / "domains"), target / "generated", force=force)
    except (DomainError, GenerationError) as error:
        raise ScaffoldError(
            f"acci-gen generate failed for {target}:\n{error}\nFix the domain files, then run "
            "`acci-gen generate` in the service."
        ) from error
    for line in result.report():
        print(line)
    if not result.written:
        raise ScaffoldError(
            f"acci-gen generate left {target / 'generated'} alone: generated files were edited by hand "
            f"({', '.join(result.edited)}). Move the edits to custom/, then run `acci-gen generate`."
        )


# -- upgrade ------------------------------------------------------------------------------------


@dataclass
class UpgradeResult:
    """What `upgrade_service` did: the template versions, and the files that need a person."""

    target: Path
    old_ref: str
    new_ref: str
    #: Files with conflict markers or unmerged in the git index (relative to the service).
    conflicts: list[str] = field(default_factory=list)
    #: Rejected hunks (`--conflict rej`): `*.rej` files next to the files they belong to.
    rejects: list[str] = field(default_factory=list)
    #: `git status --porcelain` lines after the update: what to review and commit.
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.rejects

    def report(self) -> str:
        """A human-readable summary with the next steps."""
        if self.old_ref == self.new_ref and not self.changed:
            return f"{self.target}: already at template version {self.new_ref}; nothing changed."
        lines = [
            f"{self.target}: updated the service template from {self.old_ref} to {self.new_ref}; "
            f"{len(self.changed)} path(s) changed."
        ]
        if self.conflicts:
            lines.append(
                f"CONFLICT: your edits and the template's changes overlap in {len(self.conflicts)} file(s):"
            )
            lines += [f"  {path}" for path in self.conflicts]
            lines.append(
                "Each has '<<<<<<< before updating' (your version), '=======' and '>>>>>>> after "
                "updating' (the template's) markers. Edit the file to keep what you want, remove the "
                "markers, `git add` it, then run `acci-gen generate` and commit."
            )
        if self.rejects:
            lines.append(f"REJECTED: {len(self.rejects)} hunk file(s) of your edits could not be applied:")
            lines += [f"  {path}" for path in self.rejects]
            lines.append(
                "The template's new version is in place; each .rej file holds the part of your edit "
                "that did not fit. Re-apply it by hand, delete the .rej file, then run `acci-gen "
                "generate` and commit."
            )
        if self.ok:
            lines.append(
                "Your edits were kept. Review with `git diff`, run `acci-gen generate`, then commit."
            )
        return "\n".join(lines)


def read_answers(target: Path) -> dict[str, Any]:
    path = target / ANSWERS_FILE
    if not path.is_file():
        raise ScaffoldError(
            f"{path} is missing: {target} was not created from the ACCI service template (or the "
            "answers file was deleted), so copier cannot update it."
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ScaffoldError(f"{path} is not a mapping of answers; restore it from git.")
    return data


def upgrade_service(
    target: Path,
    *,
    vcs_ref: str | None = None,
    conflict: Literal["inline", "rej"] = "inline",
    context_lines: int = 3,
    trust: bool = False,
) -> UpgradeResult:
    """`copier update` the service in `target` to a newer template version, keeping its edits.

    The service must be committed in git (copier diffs against the last commit). When its
    template is acci-gen's mirror, the mirror is first brought up to date with the template this
    acci-gen ships, and that version is the one applied (unless `vcs_ref` names another);
    otherwise `vcs_ref` defaults to the template's latest tag. Conflicting edits are reported in
    the result (`conflicts`, `rejects`, `report()`), not raised. The caller regenerates afterwards.
    """
    from copier import run_update
    from copier.errors import CopierError

    target = Path(target).resolve()
    answers = read_answers(target)
    src_path, old_ref = answers.get("_src_path"), answers.get("_commit")
    if not isinstance(src_path, str) or not old_ref:
        raise ScaffoldError(
            f"{target / ANSWERS_FILE} has no _src_path/_commit: the service was copied from a plain "
            "directory, which copier cannot update. Re-create it with `acci-gen new`, or add the "
            "template's git URL and tag as _src_path and _commit, commit, and retry."
        )
    if work_tree_root(target) is None:
        raise ScaffoldError(
            f"{target} is not in a git repository; copier updates only committed services. Run "
            "`git init && git add -A && git commit -m 'service'` there first."
        )
    dirty = status_lines(target)
    if dirty:
        shown = "\n".join(f"  {line}" for line in dirty[:20])
        raise ScaffoldError(f"{target} has uncommitted changes; commit or stash them, then retry:\n{shown}")
    local = _local_source(src_path, target)
    if local is not None and not local.exists():
        raise ScaffoldError(
            f"the template source {src_path!r} recorded in {ANSWERS_FILE} does not exist. Restore it "
            f"(for acci-gen's own template: set {TEMPLATE_HOME_ENV} to where it was), or change "
            "_src_path to a reachable git URL, commit, and retry."
        )
    ref = vcs_ref
    if ref is None and local is not None and _is_mirror(local):
        ref = template_mirror(local).tag
    known = ("rev-parse", "--verify", "--quiet", f"{old_ref}^{{commit}}")
    if local is not None and (local / ".git").is_dir() and git(local, *known, check=False).returncode != 0:
        raise ScaffoldError(
            f"the template version {old_ref} that {target.name} was made from is not in {src_path} "
            "any more, so copier cannot tell the service's own edits from the template's. Restore "
            "that tag there (or point _src_path at a repository that has it), commit, and retry."
        )
    try:
        run_update(
            target,
            vcs_ref=ref,
            defaults=True,
            overwrite=True,
            skip_answered=True,
            quiet=True,
            unsafe=trust,
            conflict=conflict,
            context_lines=context_lines,
        )
    except (CopierError, ValueError) as error:
        raise ScaffoldError(f"copier could not update {target}: {error}") from error
    new_ref = str(read_answers(target).get("_commit", ref or "?"))
    return _result(target, str(old_ref), new_ref)


def _local_source(src_path: str, target: Path) -> Path | None:
    """The template's directory when `src_path` is local (a path or file:// URL), else None."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", src_path) and not src_path.startswith("file://"):
        return None  # a remote URL: copier says so if it cannot clone it
    if re.match(r"^[\w.-]+@[\w.-]+:", src_path):
        return None  # scp-like git@host:path
    path = Path(src_path.removeprefix("file://")).expanduser()
    if path.is_absolute():
        return path
    return (target / path) if (target / path).exists() else path.resolve()


def _is_mirror(path: Path) -> bool:
    """True when `path` is a template mirror acci-gen keeps (its commits are acci-gen's)."""
    if not (path / ".git").is_dir():
        return False
    if path.resolve() == template_home():
        return True
    author = git(path, "log", "-1", "--format=%ae", check=False).stdout.strip()
    return author == BOT_EMAIL


def _result(target: Path, old_ref: str, new_ref: str) -> UpgradeResult:
    top = work_tree_root(target) or target
    changed = status_lines(target)
    unmerged = git(target, "diff", "--name-only", "--diff-filter=U", "--relative").stdout.split("\n")
    conflicts = {line.strip() for line in unmerged if line.strip()}
    rejects: set[str] = set()
    for line in changed:
        rel_to_top = line[3:].strip().strip('"')
        if " -> " in rel_to_top:
            rel_to_top = rel_to_top.split(" -> ", 1)[1]
        path = top / rel_to_top
        try:
            rel = path.relative_to(target).as_posix()
        except ValueError:
            continue
        if rel.endswith(".rej"):
            rejects.add(rel)
        elif path.is_file() and _has_markers(path):
            conflicts.add(rel)
    return UpgradeResult(target, old_ref, new_ref, sorted(conflicts), sorted(rejects), changed)


def _has_markers(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith(CONFLICT_MARKER) for line in text.splitlines())
