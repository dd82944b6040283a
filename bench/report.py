"""The table (and the JSON file) of a run: each workload's figure per side, ACCI's ratios to the others,
and its targets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.db import ServerInfo
from bench.runner import SIDES, Result, Target
from bench.settings import Mode


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float | None

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        if self.target.kind == "flat":
            return self.value <= self.target.ratio
        return self.value >= self.target.ratio

    def describe(self) -> str:
        if self.value is None:
            return f"{self.target.describe()}: n/a"
        outcome = "pass" if self.passed else "MISS"
        return f"{self.target.describe()}: {self.value:.2f} {outcome}"


def verdicts(result: Result) -> list[Verdict]:
    acci = result.primary_rate("acci")
    found: list[Verdict] = []
    for target in result.workload.targets:
        if target.kind == "flat":
            ref_rate = result.rate(target.reference)
            # Time per operation relative to the reference: the reference's rate over this one's.
            value = ref_rate / acci if ref_rate and acci else None
        else:
            other = result.primary_rate(target.kind)
            value = acci / other if acci and other else None
        found.append(Verdict(target, value))
    return found


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def table(results: list[Result], mode: Mode, info: ServerInfo, load: tuple[float, float]) -> str:
    header = ("workload", "unit", "ACCI", "raw", "eventsourcing", "ACCI/raw", "ACCI/es", "target")
    rows: list[tuple[str, ...]] = [header]
    for result in results:
        acci, raw, es = (result.primary_rate(side) for side in SIDES)
        targets = "; ".join(v.describe() for v in verdicts(result)) or "-"
        rows.append(
            (
                result.workload.title + (" *" if result.workload.raw_means else ""),
                result.workload.unit,
                _num(acci),
                _num(raw),
                _num(es),
                _ratio(acci, raw),
                _ratio(acci, es),
                targets,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(" | ".join(cells).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    samples = (
        "median of 3" if mode.reps == 3 else f"median of {mode.reps}" if mode.reps > 1 else "1 sample each"
    )
    notes = [
        f"* {r.workload.title}: the raw column is {r.workload.raw_means}."
        for r in results
        if r.workload.raw_means
    ]
    out = [
        f"ACCI benchmarks, {mode.name} mode ({samples}); figures are per second, higher is better.",
        "Each side's figure is its first variant listed below (eventsourcing: its recorder, except for typed",
        "reads, where it is recorder + mapper, and aggregate loads, where it is the Application).",
        "",
        *lines,
        *(["", *notes] if notes else []),
        *latency_table(results),
        "",
        "All variants (median per second; client CPU: the Python process's CPU time over wall time):",
    ]
    for result in results:
        out.append(f"  {result.workload.title}")
        for variant in result.workload.variants:
            cpu = result.cpu_share(variant.label)
            busy = "" if cpu is None else f"{cpu:4.0%}"
            rate = _num(result.rate(variant.label))
            out.append(f"    {variant.side:4}  {rate:>10}  {busy:>4}  {variant.label}")
    out += [
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info.versions.items()),
        "PostgreSQL settings: " + ", ".join(f"{k}={v}" for k, v in info.settings.items()),
        f"Load average (1 min) before and after the run: {load[0]:.2f}, {load[1]:.2f} "
        "(more than a fraction of the CPU count means something else ran too: compare with care)",
    ]
    return "\n".join(out)


def _ms(latency: tuple[float, float] | None) -> str:
    return "-" if latency is None else f"{latency[0] * 1000:.2f} / {latency[1] * 1000:.2f}"


def latency_table(results: list[Result]) -> list[str]:
    """Per append (or command) latency, p50 / p99 in ms, of each side's figure, where recorded:
    so that a throughput never hides what it costs each caller."""
    rows: list[tuple[str, ...]] = [
        ("workload", "ACCI p50 / p99 ms", "raw p50 / p99 ms", "eventsourcing p50 / p99 ms")
    ]
    for result in results:
        latencies = [result.latency(v.label) if (v := result.primary(side)) else None for side in SIDES]
        if any(latencies):
            rows.append((result.workload.title, *(_ms(x) for x in latencies)))
    if len(rows) == 1:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["", "Latency of each append or command (all samples):"]
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(" | ".join(cells).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return lines


def to_json(results: list[Result], mode: Mode, info: ServerInfo, load: tuple[float, float]) -> dict[str, Any]:
    return {
        "mode": mode.name,
        "reps": mode.reps,
        "load_average": {"before": load[0], "after": load[1]},
        "versions": info.versions,
        "settings": info.settings,
        "workloads": [
            {
                "name": r.workload.name,
                "title": r.workload.title,
                "unit": r.workload.unit,
                "raw_means": r.workload.raw_means or "raw psycopg",
                "primary": {side: r.primary_rate(side) for side in SIDES},
                "variants": [
                    {
                        "side": v.side,
                        "label": v.label,
                        "median": r.rate(v.label),
                        "latency_p50_p99": r.latency(v.label),
                        "samples": [
                            {"count": s.events, "seconds": s.seconds, "cpu_seconds": s.cpu}
                            for s in r.samples.get(v.label, [])
                        ],
                    }
                    for v in r.workload.variants
                ],
                "targets": [
                    {"target": v.target.describe(), "value": v.value, "passed": v.passed} for v in verdicts(r)
                ],
            }
            for r in results
        ],
    }


def save_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
