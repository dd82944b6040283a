"""Shared helpers of the generator's tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess that imports acci_gen from the source tree."""
    values = dict(os.environ)
    paths = [str(ROOT / "generator"), str(ROOT / "runtime")]
    if values.get("PYTHONPATH"):
        paths.append(values["PYTHONPATH"])
    values["PYTHONPATH"] = os.pathsep.join(paths)
    values.update(extra)
    return values


def acci_gen(*args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter."""
    return subprocess.run(
        [PYTHON, "-m", "acci_gen", *args],
        cwd=cwd,
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tree(root: Path) -> dict[str, bytes]:
    """Every file below `root` (without caches), by its posix path relative to `root`."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and ".mypy_cache" not in p.parts
    }
