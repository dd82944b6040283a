"""Prometheus metrics of the relays and the consumers, in acci.metrics' registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from acci.metrics import REGISTRY

RELAY_PUBLISHED = Counter(
    "acci_relay_events_published",
    "Integration events published and acknowledged by the broker, by relay.",
    ["relay"],
    registry=REGISTRY,
)
RELAY_PUBLISH_FAILURES = Counter(
    "acci_relay_publish_failures",
    "Publishes that failed and were retried, by relay.",
    ["relay"],
    registry=REGISTRY,
)
RELAY_LAG_EVENTS = Gauge(
    "acci_relay_lag_events", "Events of a relay's types after its checkpoint.", ["relay"], registry=REGISTRY
)
RELAY_LAG_SECONDS = Gauge(
    "acci_relay_lag_seconds",
    "Age of the oldest event a relay has not published yet (0 when caught up).",
    ["relay"],
    registry=REGISTRY,
)
CONSUMER_MESSAGES = Counter(
    "acci_consumer_messages",
    "Integration messages a consumer finished, by outcome (handled, replayed, ignored, parked).",
    ["consumer", "outcome"],
    registry=REGISTRY,
)
CONSUMER_PENDING = Gauge(
    "acci_consumer_pending_messages",
    "Messages of a consumer's durable consumer not acknowledged yet.",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_DEAD_LETTERS = Gauge(
    "acci_consumer_dead_letters", "Unresolved dead letters, by consumer.", ["consumer"], registry=REGISTRY
)
