"""The header of requirements/dev.lock: which dependency declaration of pyproject.toml it was
written from, so that the two cannot drift apart unnoticed.

    python requirements/lockfile.py stamp requirements/dev.lock   # ./dev lock, after uv wrote it
    python requirements/lockfile.py check requirements/dev.lock   # ./dev lint and ./dev setup

The fingerprint covers what a resolver reads (requires-python, the dependencies and every extra),
not the rest of pyproject.toml: a change to ruff's or pytest's settings needs no new lock. Only the
standard library: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "# pyproject-dependencies-sha256: "
HEADER = (
    "# The development environment of ACCI: pyproject.toml's `dev` extra, resolved for Python 3.11\n"
    "# on Linux x86_64, every file pinned by its hash. Written by `./dev lock` (keeps the pins it\n"
    "# can; `./dev lock --upgrade` moves them all); installed by `./dev setup`. Do not edit.\n"
)


def fingerprint(pyproject: Path) -> str:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    declared = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def recorded(lock: Path) -> str | None:
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(KEY):
            return line.removeprefix(KEY).strip()
    return None


def stamp(lock: Path, pyproject: Path) -> None:
    """Put the header, with the current fingerprint, above the requirements uv wrote."""
    body = [line for line in lock.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip()]
    while body and body[0].startswith("#"):
        body.pop(0)
    lock.write_text(HEADER + KEY + fingerprint(pyproject) + "\n" + "".join(body), encoding="utf-8")


def check(lock: Path, pyproject: Path) -> str | None:
    """Why `lock` is not in step with `pyproject`, or None when it is."""
    if not lock.exists():
        return f"{lock.name} is missing: run ./dev lock"
    found = recorded(lock)
    if found is None:
        return f"{lock.name} has no '{KEY.strip('# :')}' line: run ./dev lock"
    if found != fingerprint(pyproject):
        return (
            f"{lock.name} was written for other dependencies than pyproject.toml declares now: "
            "run ./dev lock and commit it"
        )
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("stamp", "check"):
        print("usage: lockfile.py stamp|check LOCKFILE", file=sys.stderr)
        return 2
    lock, pyproject = Path(argv[1]), ROOT / "pyproject.toml"
    if argv[0] == "stamp":
        stamp(lock, pyproject)
        return 0
    problem = check(lock, pyproject)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
