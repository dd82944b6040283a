"""The workloads, in the order the table shows them."""

from __future__ import annotations

from bench.runner import Workload
from bench.workloads import (
    aggregates,
    appends,
    commands,
    concurrency,
    http,
    inline,
    multistream,
    projections,
    reads,
    relay,
    search,
    segments,
    swap,
    upcasting,
)

ALL: list[Workload] = [
    *appends.WORKLOADS[:2],
    *concurrency.WORKLOADS,
    *inline.WORKLOADS,
    *multistream.WORKLOADS,
    appends.WORKLOADS[2],
    *reads.WORKLOADS[:1],
    *aggregates.WORKLOADS,
    *reads.WORKLOADS[1:],
    *commands.WORKLOADS,
    *projections.WORKLOADS,
    *segments.WORKLOADS,
    *swap.WORKLOADS,
    *search.WORKLOADS,
    *upcasting.WORKLOADS,
    *relay.WORKLOADS,
    *http.WORKLOADS,
]


def select(only: list[str] | None) -> list[Workload]:
    """The workloads named in `only` (a name, or a prefix such as `concurrent` or `snapshot`); `_` may
    stand for `-` (`projection_catchup`)."""
    if not only:
        return ALL
    only = [o.replace("_", "-") for o in only]
    chosen = [w for w in ALL if any(w.name == o or w.name.startswith(f"{o}-") for o in only)]
    unknown = [o for o in only if not any(w.name == o or w.name.startswith(f"{o}-") for w in ALL)]
    if unknown:
        names = ", ".join(w.name for w in ALL)
        raise SystemExit(f"unknown workload {', '.join(unknown)}; choose from: {names}")
    return chosen
