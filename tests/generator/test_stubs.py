"""Generated tests, run the way a generated service's CI runs them: an unwritten hand-written
decision fails its scenario with a message naming the function to write; once written, all pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from genhelp import ROOT, env

CASES = Path(__file__).parent / "cases"

CLOSE_ACCOUNT = """
from collections.abc import Sequence

from acci import Command

from ..aggregates import AccountState
from ..commands import CloseAccount
from ..events import AccountClosed, MoneyWithdrawn


def decide_close_account(
    state: AccountState, command: Command[CloseAccount]
) -> Sequence[AccountClosed | MoneyWithdrawn]:
    events: list[AccountClosed | MoneyWithdrawn] = []
    if state.balance:
        events.append(MoneyWithdrawn(iban=command.data.iban, amount=state.balance))
    events.append(AccountClosed(iban=command.data.iban))
    return events
"""


PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "acci.testing", "-W", "error", "-p", "no:cacheprovider"]
PYTEST += ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"]


def _pytest(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTEST, "."],
        cwd=where,
        env=env(PYTHONPATH=str(where)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_unwritten_stub_fails_with_its_name_then_passes(tmp_path: Path) -> None:
    work = tmp_path / "service"
    shutil.copytree(CASES / "rich" / "expected", work)
    for case in ("minimal", "no_events", "command_rules"):
        for package in (CASES / case / "expected").iterdir():
            shutil.copytree(package, work / package.name)
    (work / "pytest.ini").write_text("[pytest]\n")
    first = _pytest(work)
    assert first.returncode == 1, first.stdout + first.stderr
    assert (
        "Failed: decide_close_account is not written yet: implement it in bank/custom/close_account.py"
        in first.stdout
    )
    # The scenario's test fails, directly and over HTTP, and nothing else does.
    failed = [line for line in first.stdout.splitlines() if line.startswith("FAILED ")]
    assert failed and all("[close" in line for line in failed), first.stdout
    stub = work / "bank" / "custom" / "close_account.py"
    stub.write_text(CLOSE_ACCOUNT)
    second = _pytest(work)
    assert second.returncode == 0, second.stdout + second.stderr
    assert " passed" in second.stdout and "failed" not in second.stdout


def test_root_is_the_repository() -> None:
    assert (ROOT / "pyproject.toml").exists()
