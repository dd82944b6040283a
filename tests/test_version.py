"""The version is written once, in pyproject.toml; the runtime and the generator report it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import acci
import acci_gen

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_everywhere() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert acci.__version__ == acci_gen.__version__ == declared
