"""Helpers of the scaffold's tests: subprocesses that import acci_gen from the source tree, git
with a fixed identity, copies of the service template and of the sources, and ACCI wheels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

try:
    import acci_gen  # noqa: F401
except ImportError:  # the editable install predates generator/: use the source tree
    sys.path.insert(0, str(ROOT / "generator"))

#: Commits made by the tests, whatever git identity the machine has (or lacks).
GIT_ID = ("-c", "user.name=ACCI tests", "-c", "user.email=tests@example.com")
#: What a wheel of ACCI is built from.
SOURCES = ("pyproject.toml", "README.md", "copier.yml", "runtime", "generator", "templates")


def env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess that imports acci and acci_gen from the source tree."""
    values = dict(os.environ)
    paths = [str(ROOT / "generator"), str(ROOT / "runtime")]
    if values.get("PYTHONPATH"):
        paths.append(values["PYTHONPATH"])
    values["PYTHONPATH"] = os.pathsep.join(paths)
    values.update(extra)
    return values


def run(*args: str, cwd: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=cwd, env=env(**extra), capture_output=True, text=True, timeout=timeout, check=False
    )


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def commit(cwd: Path, message: str) -> None:
    git(cwd, "add", "--all", ".")
    git(cwd, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message)


def copy_template(dest: Path) -> Path:
    """The repository's copier.yml and templates/service/, copied to `dest` (no caches)."""
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "copier.yml", dest / "copier.yml")
    shutil.copytree(
        ROOT / "templates" / "service",
        dest / "templates" / "service",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


def copy_source(dest: Path) -> Path:
    """What ACCI's wheel is built from, copied to `dest` (a checkout of this repository)."""
    dest.mkdir(parents=True)
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            ignored = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache")
            shutil.copytree(origin, dest / name, ignore=ignored)
        else:
            shutil.copy2(origin, dest / name)
    return dest


def build_acci_wheel(source: Path, out: Path) -> Path:
    """`pip wheel` of an ACCI source tree (what acci-gen does in a checkout), into `out`."""
    from acci_gen.scaffold_wheel import build_wheel

    return build_wheel(source, out)
