"""The projection key `segments: N`: the generated projection class says how many segments its
runner splits it into; without the key it says nothing (the service's setting applies)."""

from __future__ import annotations

from pathlib import Path

import pytest
from acci_gen.app import generate
from test_names import BASE, DEFAULTS


def generated_projections(tmp_path: Path, yaml: str) -> str:
    tmp_path.mkdir()
    path = tmp_path / "shop.yaml"
    path.write_text(yaml, encoding="utf-8")
    generate([path], tmp_path / "out")
    return (tmp_path / "out" / "shop" / "projections.py").read_text(encoding="utf-8")


@pytest.mark.slow  # generates (OpenAPI child)
def test_segments_reach_the_generated_projection(tmp_path: Path) -> None:
    plain = BASE.format(**DEFAULTS)
    assert "segments" not in generated_projections(tmp_path / "plain", plain)
    split = plain.replace("    key: cart_id\n", "    key: cart_id\n    segments: 4\n", 1)
    code = generated_projections(tmp_path / "split", split)
    assert "    segments = 4\n" in code
