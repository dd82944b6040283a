"""Fixtures of the generator's tests (the `--update-golden` option lives in tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

try:
    import acci_gen  # noqa: F401
except ImportError:  # the editable install predates generator/: use the source tree
    sys.path.insert(0, str(ROOT / "generator"))


# The golden outputs contain generated test modules; test_stubs.py runs them in a subprocess.
collect_ignore = ["cases", "broken"]


@pytest.fixture
def repo_root() -> Path:
    return ROOT
