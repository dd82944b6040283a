"""requirements/dev.lock stays in step with pyproject.toml: its header records the fingerprint of
the dependency declaration it was resolved from, and `./dev lint` refuses a lock whose fingerprint
is not the current one. Run on a copy, so that the real files are never touched."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "requirements", tmp_path / "requirements", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def _run(root: Path, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(root / "requirements" / "lockfile.py"),
            action,
            str(root / "requirements" / "dev.lock"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_committed_lock_matches_pyproject() -> None:
    result = _run(ROOT, "check")
    assert result.returncode == 0, result.stderr


def test_a_changed_dependency_makes_the_lock_stale_until_it_is_stamped(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            '"jsonschema>=4.26",', '"jsonschema>=4.26",\n    "six",'
        ),
        encoding="utf-8",
    )
    stale = _run(root, "check")
    assert stale.returncode == 1
    assert stale.stderr == (
        "error: dev.lock was written for other dependencies than pyproject.toml declares now: "
        "run ./dev lock and commit it\n"
    )
    assert _run(root, "stamp").returncode == 0
    assert _run(root, "check").returncode == 0
    # The pins and their hashes are kept as uv wrote them; only the header is new.
    lines = (root / "requirements" / "dev.lock").read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if not line.startswith("#")]
    committed = (ROOT / "requirements" / "dev.lock").read_text(encoding="utf-8").splitlines()
    assert body == [line for line in committed if not line.startswith("#")]


def test_settings_outside_the_dependencies_need_no_new_lock(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace("line-length = 110", "line-length = 100"),
        encoding="utf-8",
    )
    assert _run(root, "check").returncode == 0


def test_a_lock_without_its_header_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    lock = root / "requirements" / "dev.lock"
    lock.write_text(
        "".join(
            line
            for line in lock.read_text(encoding="utf-8").splitlines(keepends=True)
            if not line.startswith("#")
        )
    )
    result = _run(root, "check")
    assert result.returncode == 1 and "run ./dev lock" in result.stderr
