"""Fixtures of the scaffold's tests: the template mirror in a temporary home, and a temporary
template repository with tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scaffold.helpers import commit, copy_template, git


@pytest.fixture(autouse=True)
def template_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test keeps acci-gen's template mirror in a temporary directory of its own."""
    home = tmp_path / "acci-template"
    monkeypatch.setenv("ACCI_TEMPLATE_HOME", str(home))
    return home


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A template repository tagged v1, which a test changes and tags v2."""
    repo = copy_template(tmp_path / "template-repo")
    git(repo, "init", "--quiet")
    commit(repo, "template v1")
    git(repo, "tag", "v1")
    return repo
