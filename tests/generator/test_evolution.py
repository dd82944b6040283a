"""Schema evolution in acci-gen: a corpus of breaking changes, each caught with its message, and
the lock file that freezes released event shapes.

Each case in evolution/cases/ is the domain of evolution/base.yaml after a change. The base is
generated first (which records its released shapes in the lock file); then `acci-gen check` on
the changed domain must fail with exit code 2 and the message in <case>.expected. Run with
--update-golden to rewrite the expected files, then review them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from acci_gen.cli import main

HERE = Path(__file__).parent / "evolution"
CASES = sorted(HERE.glob("cases/*.yaml"))


def run(project: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([*args, "--domains-dir", str(project / "domains"), "--out", str(project / "generated")])
    out, err = capsys.readouterr()
    return code, out.replace(str(project) + "/", ""), err.replace(str(project) + "/", "")


@pytest.fixture(scope="module")
def released_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base domain, generated (its lock file records the released shapes) once per module."""
    project = tmp_path_factory.mktemp("released")
    (project / "domains").mkdir()
    shutil.copy(HERE / "base.yaml", project / "domains" / "people.yaml")
    code = main(["generate", "--domains-dir", str(project / "domains"), "--out", str(project / "generated")])
    assert code == 0
    return project


@pytest.fixture
def released(released_once: Path, tmp_path: Path) -> Path:
    """A copy of its own of the generated base project for each test."""
    return Path(shutil.copytree(released_once, tmp_path / "project"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_a_breaking_change_is_caught(
    case: Path, released: Path, capsys: pytest.CaptureFixture[str], update_golden: bool
) -> None:
    shutil.copy(case, released / "domains" / "people.yaml")
    code, _, err = run(released, "check", capsys=capsys)
    expected = case.with_suffix(".expected")
    if update_golden:
        expected.write_text(err)
    assert code == 2, err
    assert err == expected.read_text()


@pytest.mark.slow  # generates a new version (OpenAPI child)
def test_the_lock_records_each_version_once_and_never_changes_it(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = released / "domains" / "people.lock.json"
    first = lock.read_text()
    assert '"PersonRegistered"' in first and '"1"' in first
    # A new version, properly declared: generate records v2 and keeps v1 as it was.
    domain = released / "domains" / "people.yaml"
    text = domain.read_text().replace(
        "  PersonRegistered:\n    aggregate: Person\n    fields:\n",
        "  PersonRegistered:\n    aggregate: Person\n    version: 2\n    fields:\n"
        "      age: {type: int, default: 0}\n",
    )
    old_fields = (
        "    versions:\n      1:\n        fields:\n          person_id: uuid\n          full_name: string\n"
        "          nickname: {type: string, optional: true}\n        upcast:\n          - add: {age: 0}\n"
    )
    text = text.replace("commands:", old_fields + "commands:", 1)
    domain.write_text(text)
    code, _, err = run(released, "check", capsys=capsys)
    code, out, err = run(released, "check", capsys=capsys)
    assert code == 1  # the lock lacks v2
    assert "people.lock.json (new event versions are not recorded yet)" in out
    code, out, err = run(released, "generate", capsys=capsys)
    assert code == 0, err
    assert "recorded the released event shapes" in out
    after = lock.read_text()
    assert '"2"' in after
    assert first.split('"1"')[1].split("}\n")[0] in after  # v1's entry is untouched
    code, _, _ = run(released, "check", capsys=capsys)
    assert code == 0


@pytest.mark.slow  # generates a new version (OpenAPI child)
def test_backward_checks_only_the_previous_version(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """v1 cannot become v3 (no step adds 'age'), but v2 can: backward passes, transitive fails."""
    domain = released / "domains" / "people.yaml"
    v1 = (
        "          person_id: uuid\n          full_name: string\n"
        "          nickname: {type: string, optional: true}\n"
    )
    text = (
        domain.read_text()
        .replace(
            "  PersonRegistered:\n    aggregate: Person\n    fields:\n",
            "  PersonRegistered:\n    aggregate: Person\n    version: 3\n    fields:\n      age: int\n",
        )
        .replace(
            "    emits: PersonRegistered\n",
            "    emits:\n      - event: PersonRegistered\n        map: {age: {value: 0}}\n",
        )
    )
    versions = (
        "    versions:\n      1:\n        fields:\n"
        + v1
        + "      2:\n        fields:\n"
        + v1
        + "          age: int\n"
    )
    text = text.replace("commands:", versions + "commands:", 1)
    domain.write_text(text.replace("domain: people\n", "domain: people\ncompatibility: backward\n"))
    code, _, err = run(released, "generate", capsys=capsys)
    assert code == 0, err
    domain.write_text(text)  # backward_transitive, the default
    code, _, err = run(released, "check", capsys=capsys)
    assert code == 2
    assert "PersonRegistered v1, upcast to v3, has no 'age', which v3 requires." in err


def test_every_step_kind_does_in_generated_code_what_the_checks_assume(tmp_path: Path) -> None:
    """The generated upcaster and acci_gen.evolution.steps.apply_to_data agree on every step."""
    import importlib
    import sys

    from acci_gen.emit.python.evolution import function_name, step_lines
    from acci_gen.evolution.steps import apply_to_data
    from acci_gen.model import Event, Step

    steps = [
        Step("rename", {"nm": "name"}),
        Step("add", {"tier": "basic", "tags": []}),
        Step("remove", ["legacy"]),
        Step("map", {"status": {"ACTIVE": "active", "GONE": "archived"}}),
        Step("split", {"field": "name", "into": ["first", "last"], "separator": " "}),
        Step("combine", {"fields": ["street", "city"], "into": "address", "separator": ", "}),
    ]
    body = "\n".join("    " + line for step in steps for line in step_lines(step))
    event = Event("Thing", "T", [])
    name = function_name(event, 1)
    module = tmp_path / "upcasting_probe.py"
    module.write_text(
        f"from typing import Any\n\n\ndef {name}(stored: dict[str, Any]) -> dict[str, Any]:\n"
        f"    data = dict(stored)\n{body}\n    return data\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        generated = getattr(importlib.import_module("upcasting_probe"), name)
    finally:
        sys.path.remove(str(tmp_path))
    samples: list[dict[str, Any]] = [
        {"nm": "Ada King Lovelace", "legacy": 1, "status": "ACTIVE", "street": "Main 1", "city": "Bern"},
        {"nm": "Plato", "status": "other", "street": "", "city": "Athens", "tier": "gold"},
        {"status": "GONE"},
    ]
    for sample in samples:
        assert generated(sample) == apply_to_data(steps, sample), sample
    assert generated(samples[0]) == {
        "tier": "basic",
        "tags": [],
        "status": "active",
        "first": "Ada",
        "last": "King Lovelace",
        "address": "Main 1, Bern",
    }
