"""The errors of integration events: publishing to and consuming from a message broker."""

from __future__ import annotations

from acci.errors import AcciError


class IntegrationError(AcciError):
    """Publishing or consuming integration events failed."""


class TransportError(IntegrationError):
    """The message broker did not take or deliver a message: unreachable, no acknowledgement in
    time, a refused publish. Transient: the relay and the consumers retry with backoff."""


class PublicationFailed(IntegrationError):
    """Mapping an internal event to its public integration event failed. The relay stops at this
    event (it never skips one) until the mapping is fixed."""

    def __init__(self, relay: str, event: str, problem: str) -> None:
        super().__init__(
            f"relay {relay!r} cannot publish {event}: {problem}. Nothing after it is published; fix the "
            "mapping (or the upcaster of the internal event) and start the relay again."
        )
        self.relay = relay
