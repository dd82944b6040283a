"""Golden-file tests: each folder under cases/ holds a domain.yaml and either the expected output
(expected/, a whole output directory) or the expected error text (expected_error.txt).

Rewrite the expected files with `pytest tests/generator --update-golden` (or
ACCI_UPDATE_GOLDEN=1) and review the diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from acci_gen.app import prepare
from acci_gen.errors import DomainError
from genhelp import tree

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if (p / "domain.yaml").exists())
#: The cases the inner loop (-m "not slow") renders. Each case that generates code costs about a
#: second (acci-gen builds its OpenAPI document in a child Python); the others are marked slow.
QUICK = {"minimal", "error_unknown_event"}
PARAMS = [pytest.param(c, id=c.name, marks=() if c.name in QUICK else pytest.mark.slow) for c in CASES]


def _render(case: Path) -> dict[str, bytes]:
    # The output directory is the case's expected/, so headers name the domain file "domain.yaml".
    run = prepare([case / "domain.yaml"], case / "expected")
    files: dict[str, bytes] = {}
    for output in run.outputs:
        for rel, text in {**output.generated, **output.stubs}.items():
            files[rel] = text.encode("utf-8")
    return files


@pytest.mark.parametrize("case", PARAMS)
def test_golden(case: Path, update_golden: bool) -> None:
    error_file = case / "expected_error.txt"
    expected_dir = case / "expected"
    if error_file.exists():
        with pytest.raises(DomainError) as raised:
            _render(case)
        text = str(raised.value) + "\n"
        if update_golden:
            error_file.write_text(text, encoding="utf-8")
        assert text == error_file.read_text(encoding="utf-8")
        return
    try:
        files = _render(case)
    except DomainError as error:
        if update_golden and not expected_dir.exists():
            error_file.write_text(str(error) + "\n", encoding="utf-8")
            pytest.skip("wrote expected_error.txt; review it")
        raise
    if update_golden:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, data in files.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_bytes(data)
    assert expected_dir.is_dir(), f"{expected_dir} is missing; run with --update-golden and review it"
    expected = tree(expected_dir)
    assert sorted(files) == sorted(expected)
    for rel, data in files.items():
        assert data.decode() == expected[rel].decode(), f"{rel} differs from the golden file"


def test_the_failing_case_names_file_line_and_fix() -> None:
    text = (Path(__file__).parent / "cases" / "error_unknown_event" / "expected_error.txt").read_text()
    assert text.startswith("domain.yaml:15:13: error (at commands.OpenCart.emits[0]): ")
    assert "did you mean 'CartOpened'?" in text
