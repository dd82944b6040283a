"""Prometheus metrics (the guide's Monitoring section), in a registry of ACCI's own.

A running service serves them at /metrics (acci.monitoring); `exposition()` returns the text for
an endpoint of one's own. Values are process-wide, like any Prometheus client's. The registry
also holds the standard process (CPU, memory, open files), platform and garbage-collector metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

if TYPE_CHECKING:
    from acci.events import RecordedEvent

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

EVENTS_APPENDED = Counter(
    "acci_events_appended", "Events appended, by event type.", ["event_type"], registry=REGISTRY
)
CONCURRENCY_CONFLICTS = Counter(
    "acci_concurrency_conflicts",
    "Appends refused because the stream was not at the expected version, by aggregate type.",
    ["aggregate_type"],
    registry=REGISTRY,
)
COMMAND_DURATION = Histogram(
    "acci_command_duration_seconds",
    "Time to handle a command, by command type and outcome "
    "(ok, replayed, rejected, conflict, not_found, already_exists, id_reused, error).",
    ["command", "outcome"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SNAPSHOT_SIZE = Histogram(
    "acci_snapshot_size_bytes",
    "Size of saved snapshots (JSON), by aggregate type.",
    ["aggregate_type"],
    registry=REGISTRY,
    buckets=(256, 1024, 4096, 16384, 65536, 262144, 1048576),
)
PROJECTION_EVENTS = Counter(
    "acci_projection_events_handled",
    "Events handled by projection runners.",
    ["projection"],
    registry=REGISTRY,
)
PROJECTION_LAG_SECONDS = Gauge(
    "acci_projection_lag_seconds",
    "Age of the oldest event a projection has not handled yet (0 when caught up).",
    ["projection"],
    registry=REGISTRY,
)
PROJECTION_LAG_EVENTS = Gauge(
    "acci_projection_lag_events",
    "Events a projection has not handled yet.",
    ["projection"],
    registry=REGISTRY,
)
DEAD_LETTERS = Gauge(
    "acci_dead_letters", "Unresolved dead letters, by projection.", ["projection"], registry=REGISTRY
)
DEAD_LETTERS_PARKED = Counter(
    "acci_dead_letters_parked",
    "Events parked as dead letters, by projection.",
    ["projection"],
    registry=REGISTRY,
)
POLICY_COMMANDS = Counter(
    "acci_policy_commands",
    "Commands sent by policies and their deadlines, by policy and outcome (ok, replayed: sent "
    "before, rejected, compensated: rejected and the compensation was sent, ignored: rejected and "
    "let be, dead_lettered).",
    ["policy", "outcome"],
    registry=REGISTRY,
)
DEADLINES = Gauge(
    "acci_deadlines",
    "Deadlines by policy and state (pending, overdue: pending and past due, failed).",
    ["policy", "state"],
    registry=REGISTRY,
)

# The buckets of the coalescers' histograms (appends and loads alike): requests per flush, and
# seconds per flush.
_PER_FLUSH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_FLUSH_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
APPEND_BATCH_SIZE = Histogram(
    "acci_append_batch_size",
    "Appends per flush of a PostgresEventStore: 1 when an append was committed alone, more when "
    "concurrent appends were coalesced into one statement and one commit.",
    registry=REGISTRY,
    buckets=_PER_FLUSH,
)
APPEND_FLUSH_SECONDS = Histogram(
    "acci_append_flush_seconds",
    "Time of one flush of appends: the round trip and the commit its appends share.",
    registry=REGISTRY,
    buckets=_FLUSH_SECONDS,
)
LOAD_BATCH_SIZE = Histogram(
    "acci_load_batch_size",
    "Aggregate loads per flush of a PostgresEventStore: 1 when a load went alone, more when "
    "concurrent loads (of commands handled at once) were read in one statement.",
    registry=REGISTRY,
    buckets=_PER_FLUSH,
)
LOAD_FLUSH_SECONDS = Histogram(
    "acci_load_flush_seconds",
    "Time of one flush of aggregate loads: the round trip its loads share.",
    registry=REGISTRY,
    buckets=_FLUSH_SECONDS,
)
APPEND_BATCH_FALLBACKS = Counter(
    "acci_append_batch_fallbacks",
    "Coalesced flushes that failed as a whole (an inline projection, a duplicate event id, a "
    "deadlock) and were written again one append per transaction, so that only the culprit fails.",
    registry=REGISTRY,
)

_appended_by_type: dict[str, Counter] = {}


def record_appended(events: Iterable[RecordedEvent]) -> None:
    counts: dict[str, int] = {}
    for event in events:
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
    for event_type, count in counts.items():
        # labels() builds a key and takes a lock on every call; keep each type's child.
        child = _appended_by_type.get(event_type)
        if child is None:
            child = _appended_by_type[event_type] = EVENTS_APPENDED.labels(event_type)
        child.inc(count)


def exposition() -> bytes:
    """The metrics in the Prometheus text format, for a service's own HTTP endpoint."""
    return generate_latest(REGISTRY)
