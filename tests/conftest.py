"""Shared options and fixtures.

`--update-golden` (or ACCI_UPDATE_GOLDEN=1) rewrites the expected files of the golden tests
(acci-gen's output, its broken-domain corpus, read-model migrations) instead of comparing with
them; review the diff before committing it.
"""

from __future__ import annotations

import os

import pytest
from acci.examples import users
from acci.migrations import Migration, runtime_migrations


@pytest.fixture(scope="session")
def acci_migrations() -> list[Migration]:
    """Test databases get the runtime's migrations and the User example's read model."""
    return runtime_migrations() + users.migrations()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected files of the golden tests instead of comparing with them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden")) or os.environ.get("ACCI_UPDATE_GOLDEN") == "1"
