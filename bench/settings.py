"""How much each workload does in the short (default) and the full mode."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Fixed by the workloads' definitions, the same in both modes.
BATCH_EVENTS = 10_000
STREAM_EVENTS = 10_000
GLOBAL_EVENTS = 50_000
GLOBAL_STREAMS = 100
PAGE_SIZE = 500
SMALL_SNAPSHOT_EVENTS = 100
COMMAND_AGGREGATES = 100
#: Projection catch-up: UserCreated events, one new user (stream) each, across the tenants.
PROJECTION_EVENTS = 50_000
#: Events per stream in the segmented catch-up (the streams spread over the segments).
SEGMENT_STREAM_EVENTS = 100
#: Users in the user_view read model that search_users searches.
SEARCH_USERS = 100_000
#: OrderPlaced events per stream in the upcasting workload (one stream at v1, one at v3).
UPCAST_EVENTS = 10_000
#: The most connections a side opens for its concurrent writers (the server allows 100 in all, and
#: a workload keeps its sides' pools open across its variants): raw psycopg's and eventsourcing's
#: threads share a pool of this many when there are more of them. ACCI's coalesced appends use at
#: most two (CoalesceSettings.max_in_flight).
MAX_CONNECTIONS = 16


@dataclass(frozen=True)
class Mode:
    name: str
    #: Samples per variant; the table shows their median.
    reps: int
    #: Transactions in the single-event append workloads.
    single_appends: int
    #: Transactions per writer, by number of concurrent writers.
    per_writer: dict[int, int] = field(default_factory=dict)
    #: Commands per sender, by number of concurrent senders.
    per_sender: dict[int, int] = field(default_factory=dict)
    #: Aggregate loads per sample with a snapshot (they are fast); and of 10,000 events without one.
    snapshot_loads: int = 100
    full_loads: int = 1
    #: Commands per sample.
    commands: int = 500
    #: search_users queries per sample (each variant).
    searches: int = 200
    #: Events the segmented catch-up applies (in streams of SEGMENT_STREAM_EVENTS).
    segment_events: int = 200_000


SHORT = Mode(
    name="short",
    reps=1,
    single_appends=500,
    per_writer={4: 300, 8: 150, 32: 40, 128: 12},
    per_sender={8: 40, 32: 12, 128: 4},
    snapshot_loads=200,
    full_loads=1,
    commands=300,
    searches=100,
    segment_events=50_000,
)

FULL = Mode(
    name="full",
    reps=3,
    single_appends=2_000,
    per_writer={4: 2_000, 8: 1_000, 32: 250, 128: 60},
    per_sender={8: 150, 32: 40, 128: 10},
    snapshot_loads=1_000,
    full_loads=3,
    commands=1_000,
    searches=300,
)
