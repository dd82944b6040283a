"""Benchmark: a cold `acci-gen generate` of a domain with 20 aggregates of 10 events each.

Run with `.venv/bin/python bench/bench_generate.py [--runs N]`. Each run is a fresh interpreter
writing into an empty output directory (cold: no .pyc of the output, no manifest), timed from
process start to exit. Prints every run and the median; the target is under 3 seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGGREGATES = 20
EVENTS = 10


def domain_yaml(aggregates: int = AGGREGATES, events: int = EVENTS) -> str:
    lines = [
        "domain: bench",
        "types:",
        "  Level:",
        "    enum: [low, medium, high]",
        "  Note:",
        "    fields:",
        "      text: {type: string, max_length: 200}",
        "      at: {type: datetime, optional: true}",
        "aggregates:",
    ]
    for a in range(aggregates):
        lines += [
            f"  Thing{a}:",
            f"    identity: thing{a}_id",
            "    snapshot_every: 50",
            "    state:",
            f"      thing{a}_id: uuid",
            "      name: {type: string, min_length: 1, max_length: 100}",
            "      amount: {type: decimal, default: 0}",
            "      level: {type: Level, default: low}",
            "      notes: {type: 'list[Note]', default: []}",
            "      count: {type: int, default: 0}",
        ]
    lines.append("events:")
    for a in range(aggregates):
        lines += [
            f"  Thing{a}Created:",
            f"    aggregate: Thing{a}",
            "    fields:",
            f"      thing{a}_id: uuid",
            "      name: {type: string, min_length: 1, max_length: 100}",
        ]
        for e in range(1, events):
            lines += [
                f"  Thing{a}Changed{e}:",
                f"    aggregate: Thing{a}",
                "    fields:",
                f"      thing{a}_id: uuid",
                "      amount: {type: decimal, min: 0}",
                "      level: {type: Level, optional: true}",
                "      note: Note",
                "    apply:",
                "      amount: {add: event.amount}",
                "      notes: {append: event.note}",
            ]
    lines.append("commands:")
    for a in range(aggregates):
        lines += [
            f"  CreateThing{a}:",
            f"    aggregate: Thing{a}",
            "    precondition: must_not_exist",
            "    fields:",
            f"      thing{a}_id: uuid",
            "      name: {type: string, min_length: 1, max_length: 100}",
            f"    emits: Thing{a}Created",
            f"  ChangeThing{a}:",
            f"    aggregate: Thing{a}",
            "    precondition: must_exist",
            "    fields:",
            f"      thing{a}_id: uuid",
            "      amount: {type: decimal, min: 0}",
            "      level: {type: Level, optional: true}",
            "      note: Note",
            f"    emits: Thing{a}Changed1",
        ]
    return "\n".join(lines) + "\n"


def run_once(work: Path) -> float:
    out = work / "generated"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "generator"), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "acci_gen", "generate", "--out", str(out), str(work / "bench.yaml")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"acci-gen failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "bench.yaml").write_text(domain_yaml())
            times.append(run_once(work))
            files = sum(1 for p in (work / "generated").rglob("*") if p.is_file())
    print(f"acci-gen generate, {AGGREGATES} aggregates x {EVENTS} events ({files} files), cold:")
    for index, seconds in enumerate(times, 1):
        print(f"  run {index}: {seconds:.2f} s")
    median = statistics.median(times)
    print(f"median: {median:.2f} s (target < 3 s: {'ok' if median < 3 else 'MISSED'})")


if __name__ == "__main__":
    main()
