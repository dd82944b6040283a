"""A service's domains: found in its checkout's generated/ (only packages acci-gen made), and an
installed service that is not installed is an error that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from acci.errors import ConfigurationError
from acci.service import MANIFEST, Service, generated_domains


def test_domains_of_a_checkout(tmp_path: Path) -> None:
    assert generated_domains("orders-service", tmp_path) == []  # not generated yet
    for name, manifest in (("notes", True), ("billing", True), ("helpers", False)):
        package = tmp_path / "generated" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        if manifest:
            (package / MANIFEST).write_text("{}")
    assert generated_domains("orders-service", tmp_path) == ["billing", "notes"]


def test_an_uninstalled_service_without_a_checkout_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="neither installed nor run from its checkout"):
        generated_domains("no-such-service")


def test_a_service_of_domains_merges_them() -> None:
    from identity.service import service as identity
    from ordering.service import service as ordering

    both = Service.of_domains("shop", ["identity", "ordering"])
    assert both.name == "shop"
    assert [p.name for p in both.projections] == [
        p.name for p in (*identity.projections, *ordering.projections)
    ]
    assert list(both.migrations) == [*identity.migrations, *ordering.migrations]
    assert set(both.registry.event_types) == set(identity.registry.event_types) | set(
        ordering.registry.event_types
    )
