"""A service's parts in one object, so that `acci --app module:attribute` (and the service's own
`python -m <service>`) can operate on them.

A scaffolded service is the union of the domains acci-gen generated for it (one package each, with a
`<domain>.service.service`): `Service.of_domains(name, generated_domains(...))`. The domains are
found in the service's checkout (generated/) when it runs from one, and otherwise in its installed
distribution (its wheel holds them as top-level packages); their migrations are package resources.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from acci.errors import ConfigurationError
from acci.integration.model import Consumes, Publisher
from acci.migrations import Migration
from acci.policies import Policy, policy_projection
from acci.projections.base import Projection
from acci.registry import EventRegistry
from acci.store.postgres import PostgresEventStore

#: A projection or a policy: what a service looks up by name.
Named = TypeVar("Named", Projection, Policy)


@dataclass(frozen=True)
class Service:
    """What the operator's command line needs to know about a service."""

    name: str
    projections: Sequence[Projection] = ()
    #: The service's own migrations (read models); the runtime's are always applied first.
    migrations: Sequence[Migration] = ()
    registry: EventRegistry = field(default_factory=EventRegistry)
    #: Its policies (process managers): run like projections, with their deadlines.
    policies: Sequence[Policy] = ()
    #: What its relays publish to other services (`relay`), one per publishing domain.
    publishers: Sequence[Publisher] = ()
    #: What its consumers take from other domains (`consume`), by consumer name.
    consumers: Mapping[str, Consumes] = field(default_factory=dict)
    #: The generated domains it is made of (`of_domains`), whose routers its HTTP API mounts.
    domains: Sequence[str] = ()

    def projection(self, name: str) -> Projection:
        return self._named(self.projections, name, "projection")

    def policy(self, name: str) -> Policy:
        return self._named(self.policies, name, "policy")

    def runners(self, store: PostgresEventStore) -> list[Projection]:
        """What a running service keeps up to date: its projections, and its policies as
        projections on `store` (they send commands through it)."""
        return [*self.projections, *(policy_projection(policy, store) for policy in self.policies)]

    def runner(self, name: str, store: PostgresEventStore) -> Projection:
        """The projection, or the policy (as a projection on `store`), of that name."""
        return self._named(self.runners(store), name, "projection or policy")

    def _named(self, items: Sequence[Named], name: str, kind: str) -> Named:
        for item in items:
            if item.name == name:
                return item
        known = ", ".join(item.name for item in items) or "none"
        raise ConfigurationError(f"service {self.name!r} has no {kind} {name!r}; it has: {known}.")

    @classmethod
    def of_domains(cls, name: str, domains: Sequence[str]) -> Service:
        """One Service of the generated domains' own (`<domain>.service.service` each): their
        registries merged, all their projections and migrations."""
        registry = EventRegistry()
        projections: list[Projection] = []
        migrations: list[Migration] = []
        policies: list[Policy] = []
        publishers: list[Publisher] = []
        consumers: dict[str, Consumes] = {}
        for domain in domains:
            part = load_service(f"{domain}.service:service")
            registry.merge(part.registry)
            projections.extend(part.projections)
            migrations.extend(part.migrations)
            policies.extend(part.policies)
            publishers.extend(part.publishers)
            consumers.update(part.consumers)
        return cls(
            name,
            projections=tuple(projections),
            migrations=tuple(migrations),
            registry=registry,
            policies=tuple(policies),
            publishers=tuple(publishers),
            consumers=consumers,
            domains=tuple(domains),
        )


#: acci-gen's manifest: marks a package as a generated domain.
MANIFEST = ".acci-manifest.json"


def generated_domains(distribution: str, checkout: Path | None = None) -> list[str]:
    """The domain packages generated for a service, sorted: those in `checkout`/generated/ when
    the service runs from its checkout, else those the installed `distribution` holds."""
    if checkout is not None:
        folder = checkout / "generated"
        return sorted(
            path.name
            for path in (folder.iterdir() if folder.is_dir() else ())
            if (path / "__init__.py").is_file() and (path / MANIFEST).is_file()
        )
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"the service {distribution!r} is neither installed nor run from its checkout: install its "
            "wheel (pip install), or run it from its directory."
        ) from None
    return sorted({file.parts[0] for file in files if len(file.parts) == 2 and file.parts[1] == MANIFEST})


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
