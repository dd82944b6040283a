"""The sdist holds what `./dev test` needs: `./dev test` runs in an unpacked one (pyproject.toml,
[tool.hatch.build.targets.sdist]). Built here with hatchling, as `pip`/`build` would build it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def needed_paths() -> set[str]:
    """The top-level paths `./dev test` reads: those ./dev's lint names, and pytest's testpaths."""
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    # acci-gen check and docs --check read the domains and compare generated/ and docs/generated.
    # ./dev setup installs requirements/dev.lock.
    needed = {"dev", "pyproject.toml", "requirements", "domains", "generated", "docs"}
    for line in re.findall(r'"\$VENV/bin/(?:ruff|mypy)"[^\n]*', dev):
        needed |= {word.split("/")[0] for word in line.split()[1:] if not word.startswith(("-", '"'))}
    needed -= {"check", "format"}  # ruff's subcommands
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
    needed |= set(pytest_options["ini_options"]["testpaths"])
    return needed


def test_the_sdist_holds_what_dev_test_needs(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    [sdist] = tmp_path.glob("acci-*.tar.gz")
    with tarfile.open(sdist) as archive:
        top = {name.split("/")[1] for name in archive.getnames() if "/" in name}
    needed = needed_paths()
    assert {"runtime", "generator", "tests", "bench", "examples"} <= needed  # the parsing above works
    assert not needed - top, f"missing from the sdist: {sorted(needed - top)}"
