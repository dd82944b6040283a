"""Fixtures of the scaffold's tests: a home directory of its own for every test (acci-gen keeps its
template source and wheel cache there), the ACCI wheel built once per session (ACCI_WHEEL), and
a temporary template repository with tags.

A module whose tests never scaffold a service sets `SCAFFOLDS = False`: its tests then run without
the wheel, and a run of only those tests does not build it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scaffold.helpers import build_acci_wheel, commit, copy_source, copy_template, git


@pytest.fixture(scope="session")
def acci_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ACCI's wheel, built once from a copy of this checkout (as a release would be)."""
    source = copy_source(tmp_path_factory.mktemp("acci-source") / "acci")
    return build_acci_wheel(source, tmp_path_factory.mktemp("acci-wheel"))


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """Every test runs with a home of its own, and acci-gen takes the session's wheel."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    if getattr(request.module, "SCAFFOLDS", True):
        monkeypatch.setenv("ACCI_WHEEL", str(request.getfixturevalue("acci_wheel")))
    else:  # a test that scaffolds after all fails on this instead of building a wheel of its own
        monkeypatch.setenv("ACCI_WHEEL", str(path / "no-wheel-in-a-module-with-SCAFFOLDS-False.whl"))
    return path


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A template repository tagged v1, which a test changes and tags v2."""
    repo = copy_template(tmp_path / "template-repo")
    git(repo, "init", "--quiet")
    commit(repo, "template v1")
    git(repo, "tag", "v1")
    return repo
