"""The corpus of broken domain files: each must fail with exactly its expected diagnostics.

Each `broken/<name>.yaml` has `broken/<name>.expected`: the full error text acci-gen prints
(file:line:column, the path in the document, what is wrong, the fix). Rewrite them with
`--update-golden` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from acci_gen.app import prepare
from acci_gen.errors import Diagnostic, DomainError
from acci_gen.spec.suggest import did_you_mean

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(BROKEN.glob("*.yaml"))


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_domain(case: Path, update_golden: bool) -> None:
    out = BROKEN / "out"  # never written: the display paths become relative to broken/
    with pytest.raises(DomainError) as raised:
        prepare([case], out)
    text = str(raised.value) + "\n"
    assert not out.exists()
    expected = case.with_suffix(".expected")
    if update_golden:
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"{expected.name} is missing; run with --update-golden and review it"
    assert text == expected.read_text(encoding="utf-8")
    for diagnostic in raised.value.diagnostics:
        assert diagnostic.file == case.name
        assert diagnostic.line >= 1 and diagnostic.col >= 1
        assert diagnostic.message
        assert diagnostic.fix, f"no fix given for: {diagnostic.render()}"


@pytest.mark.parametrize(
    ("message", "fix"),
    [("x is wrong.", ""), ("x is wrong.", "expect one of: ."), ("", "fix it."), ("x is wrong.", "  ")],
)
def test_a_diagnostic_with_an_empty_part_cannot_be_made(message: str, fix: str) -> None:
    """A message or fix with nothing in it (`fix: expect one of: .`) is a bug of acci-gen."""
    with pytest.raises(ValueError, match="a diagnostic needs a"):
        Diagnostic("shop.yaml", 1, 1, "", message, fix)


def test_a_suggestion_with_nothing_to_suggest_says_what_to_do() -> None:
    assert did_you_mean("Crat", ["Cart"], what="aggregates") == "did you mean 'Cart'? Known aggregates: Cart."
    assert did_you_mean("Cart", [], what="aggregates") == (
        "No aggregates are declared yet: declare 'Cart' first, or remove the reference."
    )
    assert did_you_mean("x", [], otherwise="declare 'x: int' under 'params:'.") == (
        "declare 'x: int' under 'params:'."
    )
