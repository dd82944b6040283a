"""The end-of-run report of acci.testing (acci._slowtests): tests without the `slow` marker that
took longer than `acci_slow_seconds`, and slow shared setup, are listed; marked tests and quick
ones are not; a project without a `slow` marker gets no report. Run in a pytest of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = """
import time
import pytest

@pytest.fixture(scope="module")
def shared_setup():
    time.sleep(0.4)

def test_sleeps_unmarked():
    time.sleep(0.4)

@pytest.mark.slow
def test_sleeps_marked():
    time.sleep(0.4)

def test_quick(shared_setup):
    pass
"""

INI = """[pytest]
addopts = -p acci.testing -p no:randomly -p no:cacheprovider
acci_slow_seconds = 0.2
{markers}
"""


def run(tmp_path: Path, markers: str) -> str:
    (tmp_path / "pytest.ini").write_text(INI.format(markers=markers))
    (tmp_path / "test_sample.py").write_text(TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "test_sample.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow  # a pytest in a subprocess
def test_the_report_lists_unmarked_slow_tests_and_slow_shared_setup(tmp_path: Path) -> None:
    out = run(tmp_path, "markers =\n    slow: takes seconds")
    report = out.split("not marked slow, over 0.2 s")[1]
    tests = re.findall(r"^\s*[\d.]+s (test_sample\S+)$", report, flags=re.MULTILINE)
    assert tests == ["test_sample.py::test_sleeps_unmarked"]
    assert "fixture shared_setup (module scope), first needed by test_sample.py::test_quick" in report


@pytest.mark.slow  # a pytest in a subprocess
def test_without_a_slow_marker_there_is_no_report(tmp_path: Path) -> None:
    out = run(tmp_path, "")
    assert "not marked slow" not in out
