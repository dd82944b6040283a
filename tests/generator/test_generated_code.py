"""The committed generated/ output: up to date with domains/, and clean under ruff and mypy --strict."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from genhelp import ROOT, acci_gen, env

RUFF_RULES = "E,F,W,I,B,UP,SIM,RUF,N,S608,ASYNC,PT,RET,C4"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow  # a subprocess; ./dev lint runs acci-gen check too
def test_generated_is_up_to_date() -> None:
    result = acci_gen("check", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


CASES = ROOT / "tests" / "generator" / "cases"
OUTPUTS = [ROOT / "generated", *sorted(p / "expected" for p in CASES.iterdir() if (p / "expected").is_dir())]


def test_generated_passes_ruff() -> None:
    # --isolated: the repository's config excludes generated/ and the golden cases from its lint run.
    common = ["--isolated", "--line-length", "110", "--target-version", "py311"]
    ruff = [sys.executable, "-m", "ruff"]
    where = [str(p) for p in OUTPUTS]
    check = _run(*ruff, "check", *common, "--select", RUFF_RULES, "--ignore", "RUF012", *where)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = _run(*ruff, "format", "--check", *common, *where)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.slow
def test_generated_passes_mypy_strict() -> None:
    packages = sorted(p.name for out in OUTPUTS for p in out.iterdir() if (p / "__init__.py").exists())
    assert len(packages) == len(set(packages)), "two outputs define the same package"
    args = [arg for name in packages for arg in ("-p", name)]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *args],
        cwd=ROOT,
        env=env(MYPYPATH=os.pathsep.join(str(p) for p in OUTPUTS)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_imports_only_the_runtime() -> None:
    allowed = {"acci", "pydantic", "pytest", "__future__", "collections", "datetime", "decimal", "enum"}
    allowed |= {"typing", "uuid", "importlib"}
    # The runtime's own dependencies (psycopg for read models and queries, pytest-asyncio for the
    # generated fixtures) are part of "the runtime"; the generator's (jinja2, yaml, ruff) are not.
    allowed |= {"psycopg", "psycopg_pool", "pydantic_core", "pytest_asyncio"}
    # The HTTP API (api.py and its tests) runs on the runtime's http extra: FastAPI and httpx.
    allowed |= {"fastapi", "httpx"}
    for path in (p for out in OUTPUTS for p in out.rglob("*.py")):
        for line in path.read_text().splitlines():
            if line.startswith(("import ", "from ")) and not line.startswith("from ."):
                module = line.split()[1].split(".")[0]
                assert module in allowed, f"{path}: {line}"
