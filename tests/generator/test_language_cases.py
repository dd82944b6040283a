"""The golden cases of the language's computing parts (ledger: decimals, expressions, membership,
unit conversion, a command on two aggregates, computed read models, a policy with a deadline),
their generated tests run on PostgreSQL as a generated service's CI runs them: every scenario
through its real handler, every read-model and policy scenario through its real runner."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from genhelp import env

CASES = Path(__file__).parent / "cases"
#: The cases whose generated tests need no hand-written code.
RUNNABLE = ["ledger"]

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "acci.testing", "-W", "error", "-p", "no:cacheprovider"]
PYTEST += ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"]


@pytest.mark.slow
@pytest.mark.parametrize("case", RUNNABLE)
def test_generated_tests_of_the_case_pass(tmp_path: Path, case: str) -> None:
    work = tmp_path / "service"
    shutil.copytree(CASES / case / "expected", work)
    (work / "pytest.ini").write_text("[pytest]\n")
    # Its own embedded server: a projection runner catches up only below the oldest transaction in
    # flight, which on a server shared with other work may hold its test back.
    environment = env(PYTHONPATH=str(work))
    environment.pop("ACCI_DATABASE_URL", None)
    result = subprocess.run(
        [*PYTEST, "."],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
