"""ACCI's benchmark suite: each workload run three ways in one process and one run (ACCI, raw psycopg 3
on an equivalent table, and the `eventsourcing` library), so that figures are compared only as ratios
taken side by side. Run with `python -m bench` (or `./dev bench`); see `python -m bench --help`.

These are measurements, not tests: nothing here asserts on a timing.
"""

import sys
from pathlib import Path

#: The generated domains (identity, ordering) that some workloads use, importable as top-level
#: packages, as pytest's `pythonpath = ["generated"]` makes them for the tests.
GENERATED = Path(__file__).resolve().parent.parent / "generated"
if str(GENERATED) not in sys.path:
    sys.path.insert(0, str(GENERATED))
