"""Writing the output: files get the permissions any tool would give them."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from acci_gen.cli import main
from acci_gen.output import atomic_write
from genhelp import ROOT


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow  # generates (OpenAPI child)
@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize("mask", [0o022, 0o007])
def test_written_files_follow_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mask: int
) -> None:
    (tmp_path / "domains").mkdir()
    shutil.copy(ROOT / "domains" / "ordering.yaml", tmp_path / "domains" / "ordering.yaml")
    monkeypatch.chdir(tmp_path)
    os.umask(mask)
    assert main(["generate"]) == 0, capsys.readouterr().err
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "ordering.yaml"]
    kinds = {p.suffix for p in written}
    assert {".py", ".sql", ".json"} <= kinds  # generated code, a migration, the manifest and lock
    assert any("custom" in p.parts for p in written)  # and user-owned stubs
    for path in written:
        assert _mode(path) == 0o666 & ~mask, path


@pytest.mark.usefixtures("umask")
def test_an_overwritten_file_gets_the_umask_too(tmp_path: Path) -> None:
    target = tmp_path / "out" / "file.py"
    atomic_write(target, "one\n")
    target.chmod(0o600)
    atomic_write(target, "two\n")
    assert target.read_text() == "two\n"
    assert _mode(target) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["file.py"]  # no temporary file left
