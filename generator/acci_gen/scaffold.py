"""`acci-gen new` and `acci-gen upgrade`: create a service from the copier template, and bring a
newer template version into an existing service.

A service leaves the machine it was made on, so nothing it records may point back there:

- its runtime: the ACCI wheel, in the service's `wheels/` (acci_gen.scaffold_wheel), pinned in
  its pyproject.toml (`acci==<version>`) and installed with `pip install --find-links wheels`;
- its template source: `~/.cache/acci/service-template`, which acci-gen builds on demand on any
  machine from the template it ships and the one inside the service's wheel
  (acci_gen.scaffold_source).

`--template-source URL` uses any other tagged git repository instead (a fork of the template);
copier then reads versions from there.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped, unused-ignore]

import acci_gen
from acci_gen import __version__
from acci_gen.scaffold_git import commit_all, git, status_lines, work_tree_root
from acci_gen.scaffold_source import (
    TEMPLATE_SOURCE,
    TemplateVersion,
    build_template_source,
    next_tag,
    template_digest,
    template_source_lock,
)
from acci_gen.scaffold_wheel import (
    WheelError,
    acci_wheel,
    vendor_wheel,
    vendored_wheel,
    wheel_template,
    wheel_version,
)

#: Where the template lives inside an installed acci_gen (the wheel's force-include target).
PACKAGED_TEMPLATE = Path(acci_gen.__file__).resolve().parent / "_template"
ANSWERS_FILE = ".copier-answers.yml"
#: The marker copier writes into a file whose update conflicted (`--conflict inline`).
CONFLICT_MARKER = "<<<<<<< before updating"


class ScaffoldError(Exception):
    """`new`/`upgrade` cannot go on; the message says why and what to do."""


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


def wheel_cache() -> Path:
    """Where wheels acci-gen builds or packs are kept: ~/.cache/acci/wheels."""
    return Path("~/.cache/acci/wheels").expanduser()


def the_acci_wheel(given: Path | None = None) -> Path:
    """The ACCI wheel for wheels/; it must carry the template this acci-gen applies, since the
    next upgrade takes the service's template version from it."""
    try:
        wheel = given if given is not None else acci_wheel(wheel_cache())
        with tempfile.TemporaryDirectory(prefix="acci-template-") as scratch:
            carried = template_digest(wheel_template(wheel, Path(scratch)))
    except WheelError as error:
        raise ScaffoldError(str(error)) from None
    if carried != template_digest(template_root()):
        raise ScaffoldError(
            f"{wheel} carries another service template than this acci-gen ({template_root()}); a "
            "service needs the wheel of the ACCI that creates or upgrades it. Use that wheel (unset "
            "ACCI_WHEEL to let acci-gen build or pack its own)."
        )
    return wheel


# -- new ----------------------------------------------------------------------------------------


def new_service(
    target: Path,
    *,
    data: Mapping[str, str],
    template_source: str | None = None,
    vcs_ref: str | None = None,
    generate: bool = True,
    git_init: bool = True,
    trust: bool = False,
    wheel: bool = True,
    acci_wheel_file: Path | None = None,
) -> Path:
    """Create a service in `target` from the template and return its path.

    `data` answers the template's questions (project_name, package, python_version,
    database_url, acci_requirement); unanswered ones take their defaults, and project_name
    defaults to the directory's name. Without `template_source` the template is the one this
    acci-gen ships, recorded as the template source every acci-gen resolves (see
    acci_gen.scaffold_source); otherwise that git URL or path, at `vcs_ref` (default: its latest
    tag). With `wheel`, the ACCI wheel (`acci_wheel_file`, else see acci_gen.scaffold_wheel) goes
    into wheels/ and the service requires exactly its version. Then, with `generate`, acci-gen
    generates the starter domain into generated/; with `git_init`, a target outside any git
    repository becomes one with a first commit, as `copier update` needs later.
    """
    target = Path(target).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} exists and is not empty; name a new directory for the service.")
    if template_source is None and vcs_ref is not None:
        raise ScaffoldError("--vcs-ref picks a version of a --template-source repository; pass both.")
    vendored = the_acci_wheel(acci_wheel_file) if wheel else None
    pinned = wheel_version(vendored) if vendored is not None else __version__
    answers: dict[str, str] = {"project_name": target.name, "acci_requirement": f"acci=={pinned}", **data}
    if template_source is None:
        tag = next_tag(None, __version__, changed=False)
        with template_source_lock() as path:
            build_template_source(path, [TemplateVersion(tag, template_root())])
            _copy(TEMPLATE_SOURCE, target, answers, tag, trust)
    else:
        _copy(template_source, target, answers, vcs_ref, trust)
    if vendored is not None:
        vendor_wheel(target, vendored)
    if generate:
        generate_service(target)
    if git_init and work_tree_root(target) is None:
        git(target, "init", "--quiet")
        commit_all(target, f"Create {answers['project_name']} from the ACCI service template")
    return target


def _copy(source: str, target: Path, answers: dict[str, str], ref: str | None, trust: bool) -> None:
    from copier import run_copy
    from copier.errors import CopierError

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
    acci_wheel_file: Path | None = None,
) -> UpgradeResult:
    """`copier update` the service in `target` to a newer template version, keeping its edits.

    The service must be committed in git (copier diffs against the last commit). A service made
    from acci-gen's own template takes the template this acci-gen ships (the old version comes
    from the ACCI wheel in its wheels/), and its wheel and pinned requirement move to this
    ACCI; a service made from `--template-source` takes that repository's `vcs_ref` (default: its
    latest tag). Conflicting edits are reported in the result (`conflicts`, `rejects`,
    `report()`), not raised. The caller regenerates afterwards.
    """
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
    update = _Update(target, str(old_ref), conflict, context_lines, trust)
    old_wheel = vendored_wheel(target)
    new_wheel = the_acci_wheel(acci_wheel_file) if old_wheel is not None else None
    if src_path == TEMPLATE_SOURCE:
        if vcs_ref is not None:
            raise ScaffoldError(
                "--vcs-ref picks a version of a --template-source repository; this service uses the "
                "template acci-gen ships, so install the acci-gen of the version you want instead."
            )
        new_ref = _update_from_acci_gen(update, answers, old_wheel, new_wheel)
    else:
        new_ref = _update_from_repository(update, src_path, vcs_ref, answers, new_wheel)
    if new_wheel is not None:
        vendor_wheel(target, new_wheel)
    return _result(target, str(old_ref), new_ref)


@dataclass(frozen=True)
class _Update:
    target: Path
    old_ref: str
    conflict: Literal["inline", "rej"]
    context_lines: int
    trust: bool

    def run(self, ref: str | None, data: dict[str, str]) -> str:
        """copier update to `ref`; the tag it recorded."""
        from copier import run_update
        from copier.errors import CopierError

        try:
            run_update(
                self.target,
                data=data,
                vcs_ref=ref,
                defaults=True,
                overwrite=True,
                skip_answered=True,
                quiet=True,
                unsafe=self.trust,
                conflict=self.conflict,
                context_lines=self.context_lines,
            )
        except (CopierError, ValueError) as error:
            raise ScaffoldError(f"copier could not update {self.target}: {error}") from error
        return str(read_answers(self.target).get("_commit", ref or "?"))


def _update_from_acci_gen(
    update: _Update, answers: dict[str, Any], old_wheel: Path | None, new_wheel: Path | None
) -> str:
    new_root = template_root()
    with tempfile.TemporaryDirectory(prefix="acci-template-") as scratch:
        if old_wheel is not None:
            try:
                old_root = wheel_template(old_wheel, Path(scratch) / "old")
            except WheelError as error:
                raise ScaffoldError(str(error)) from None
        elif next_tag(update.old_ref, __version__, changed=False) == update.old_ref:
            old_root = new_root  # no wheel to tell, but the same version: take it as unchanged
        else:
            version = update.old_ref.removeprefix("v").split(".post")[0]
            raise ScaffoldError(
                f"the template version {update.old_ref} that {update.target.name} was made from is "
                "unknown here: it travels in the ACCI wheel of that version, and the service has none "
                f"in wheels/acci-*.whl. Put it there (from the service's git history, `git log -- "
                f"wheels`, or `pip download --no-deps acci=={version} -d wheels`), commit, and retry."
            )
        new_ref = next_tag(
            update.old_ref, __version__, template_digest(old_root) != template_digest(new_root)
        )
        if new_ref == update.old_ref:
            return new_ref  # the template did not change: only the wheel is refreshed
        with template_source_lock() as path:
            versions = [TemplateVersion(update.old_ref, old_root), TemplateVersion(new_ref, new_root)]
            build_template_source(path, versions)
            return update.run(new_ref, _new_pin(answers, new_wheel))


def _update_from_repository(
    update: _Update, src_path: str, vcs_ref: str | None, answers: dict[str, Any], new_wheel: Path | None
) -> str:
    local = _local_source(src_path, update.target)
    if local is not None and not local.exists():
        raise ScaffoldError(
            f"the template source {src_path!r} recorded in {ANSWERS_FILE} does not exist. Restore it, "
            "or change _src_path to a reachable git URL, commit, and retry."
        )
    known = ("rev-parse", "--verify", "--quiet", f"{update.old_ref}^{{commit}}")
    if local is not None and (local / ".git").is_dir() and git(local, *known, check=False).returncode != 0:
        raise ScaffoldError(
            f"the template version {update.old_ref} that {update.target.name} was made from is not in "
            f"{src_path} any more, so copier cannot tell the service's own edits from the template's. "
            "Restore that tag there (or point _src_path at a repository that has it), commit, and retry."
        )
    return update.run(vcs_ref, _new_pin(answers, new_wheel))


def _new_pin(answers: dict[str, Any], new_wheel: Path | None) -> dict[str, str]:
    """The new requirement of a service that pins ACCI exactly (`acci==X`), as copier data."""
    pin = answers.get("acci_requirement")
    if not isinstance(pin, str) or not re.fullmatch(r"acci==[^\s,;]+", pin):
        return {}
    return {"acci_requirement": f"acci=={wheel_version(new_wheel) if new_wheel else __version__}"}


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
