"""A service's parts in one object, so that `acci --app module:attribute` can operate on them."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from acci.errors import ConfigurationError
from acci.migrations import Migration
from acci.projections.base import Projection
from acci.registry import EventRegistry


@dataclass(frozen=True)
class Service:
    """What the operator's command line needs to know about a service."""

    name: str
    projections: Sequence[Projection] = ()
    #: The service's own migrations (read models); the runtime's are always applied first.
    migrations: Sequence[Migration] = ()
    registry: EventRegistry = field(default_factory=EventRegistry)

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(p.name for p in self.projections) or "none"
        raise ConfigurationError(f"service {self.name!r} has no projection {name!r}; it has: {known}.")


def load_service(spec: str) -> Service:
    """Import `module:attribute` (for example `identity.service:service`) and return the Service."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"--app {spec!r}: write module:attribute, for example identity.service:service."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigurationError(
            f"--app {spec!r}: cannot import {module_name!r} ({error}). Run from the service's directory "
            "or put it on PYTHONPATH."
        ) from error
    service = getattr(module, attribute, None)
    if not isinstance(service, Service):
        raise ConfigurationError(f"--app {spec!r}: {module_name}.{attribute} is not an acci.service.Service.")
    return service
