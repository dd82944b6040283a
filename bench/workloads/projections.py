"""Projection catch-up: 50,000 events into a read model, the checkpoint written in the same
transaction as the read model's changes. Not measured yet: it comes with the projection runtime.

The anchors (reference/anchor-figures.md): raw psycopg 56,069 events/s with one transaction per page
of 500; eventsourcing's ProjectionRunner 2,397 events/s (one transaction per event). To add it: define
a Workload here (see reads.py for a setup that writes 50,000 events on every side) whose ACCI variant
runs a projection over acci.events, whose raw variant pages by (transaction_id, global_position) and
upserts a page's rows and the checkpoint in one transaction, and whose eventsourcing variant uses
ProjectionRunner; give it Target("raw", ...) and Target("es", ...) as the issue sets them, and list it
in WORKLOADS.
"""

from __future__ import annotations

from bench.runner import Workload

WORKLOADS: list[Workload] = []
