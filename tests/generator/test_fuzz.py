"""Fuzzing the first stages of acci-gen (loading, shape and meaning checks) with hypothesis: the
example domains mutated in their structure, and bytes, random or spliced into a real file. In
every case acci-gen answers with diagnostics (each with a position inside the file and a fix) or
a domain, never a traceback or a hang, and writes nothing when there is a diagnostic.

The runs are bounded and deterministic (`derandomize`, no example database), so that they take a
few seconds and never flake; the deadline is generous for a shared CI machine, so that it fails
only for a real blow-up (such as an alias bomb expanding).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from acci_gen.app import generate
from acci_gen.errors import Diagnostic, DomainError
from acci_gen.spec import check_document, load_domain
from acci_gen.spec.language import Domain
from acci_gen.spec.loader import load_file, load_text
from genhelp import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLE_FILES = {
    "identity": ROOT / "domains" / "identity.yaml",
    "ordering": ROOT / "domains" / "ordering.yaml",
    "notes": ROOT / "templates" / "service" / "domains" / "notes.yaml",
    "rich": Path(__file__).parent / "cases" / "rich" / "domain.yaml",
}


def _data(path: Path) -> Any:
    doc, problems = load_file(path)
    assert doc is not None and not problems
    return doc.data


EXAMPLES = {name: _data(path) for name, path in EXAMPLE_FILES.items()}


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


PATHS = {name: _paths(data)[1:] for name, data in EXAMPLES.items()}


def _words() -> list[str]:
    """Keys of the language and names of the examples: mutations that look almost right."""
    words = set(Domain.model_fields)
    for data in EXAMPLES.values():
        for path in _paths(data):
            words.update(str(p) for p in path if isinstance(p, str))
    return sorted(words)


WORDS = _words()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
    | st.sampled_from(["event.x", "command.amount", "state.", "list[list[int]]", "{value: 1}", "=="])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, str]:
    """An example domain with one to three changes: a value replaced, a key removed or renamed,
    an item added; as YAML text."""
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    data = copy.deepcopy(EXAMPLES[name])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS[name]))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed it
        change = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        key = path[-1]
        if change == "replace" or (not isinstance(parent, dict) and change != "add"):
            parent[key] = draw(values)
        elif change == "delete":
            del parent[key]
        elif change == "rename":
            parent[draw(st.sampled_from(WORDS) | st.text(min_size=1, max_size=8))] = parent.pop(key)
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(WORDS))] = draw(values)
        else:
            parent.insert(draw(st.integers(0, len(parent))), draw(values))
    return name, yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """A real domain file with random bytes put in somewhere, or cut short."""
    text: bytes = EXAMPLE_FILES[draw(st.sampled_from(sorted(EXAMPLE_FILES)))].read_bytes()
    at: int = draw(st.integers(min_value=0, max_value=len(text)))
    if draw(st.booleans()):
        return text[:at]
    noise: bytes = draw(st.binary(min_size=1, max_size=16))
    return text[:at] + noise + text[at:]


FUZZ = settings(
    max_examples=40,
    deadline=10_000,  # ms; one example takes well under 100 ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def assert_well_formed(diagnostics: list[Diagnostic], text: str, file: str) -> None:
    lines = text.count("\n") + 2
    for diagnostic in diagnostics:
        assert diagnostic.file == file
        assert 1 <= diagnostic.line <= lines, diagnostic.render()
        assert diagnostic.message and diagnostic.fix


def run(tmp_path: Path, content: bytes) -> None:
    """Load and check `content` as a domain file; with a problem, generate must write nothing."""
    source = tmp_path / "fuzz.yaml"
    source.write_bytes(content)
    loaded = load_domain(source, "fuzz.yaml")
    assert_well_formed(loaded.diagnostics, content.decode("utf-8", "replace"), "fuzz.yaml")
    if not loaded.diagnostics:
        assert loaded.domain is not None and loaded.domain.name
        return
    out = tmp_path / "out"
    with pytest.raises(DomainError):
        generate([source], out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fuzz.yaml"]  # no lock file either


@pytest.mark.slow  # about 5 s: 40 mutants, each loaded, checked and, if broken, generated
@FUZZ
@given(mutant=mutants())
def test_mutated_domains_get_diagnostics_or_a_domain(tmp_path: Path, mutant: tuple[str, str]) -> None:
    _, text = mutant
    run(tmp_path, text.encode("utf-8"))


@FUZZ
@given(content=spliced())
def test_bytes_spliced_into_a_domain_get_diagnostics_or_a_domain(tmp_path: Path, content: bytes) -> None:
    run(tmp_path, content)


@FUZZ
@given(content=st.binary(max_size=400))
def test_random_bytes_get_diagnostics(tmp_path: Path, content: bytes) -> None:
    run(tmp_path, content)


@pytest.mark.slow  # about 2 s: 40 documents; its quick twin below tries a few
@FUZZ
@given(data=values)
def test_any_value_as_a_whole_file_gets_diagnostics_or_a_domain(data: Any) -> None:
    check_any_value(data)


@settings(FUZZ, max_examples=5)
@given(data=values)
def test_a_few_values_as_a_whole_file_get_diagnostics_or_a_domain(data: Any) -> None:
    check_any_value(data)


def check_any_value(data: Any) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    doc, problems = load_text(text, "fuzz.yaml")
    if doc is not None:
        _, problems = check_document(doc)
    assert_well_formed(problems, text, "fuzz.yaml")
