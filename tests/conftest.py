from __future__ import annotations

import pytest
from acci.examples import users
from acci.migrations import Migration, runtime_migrations


@pytest.fixture(scope="session")
def acci_migrations() -> list[Migration]:
    """Test databases get the runtime's migrations and the User example's read model."""
    return runtime_migrations() + users.migrations()
