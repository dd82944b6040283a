"""Runs workloads: a fresh database each, every variant of every side once per repetition (interleaved,
so that drift of the machine hits all sides alike), and collects the samples."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import inspect
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any, Literal

from bench.context import Context
from bench.db import fresh_database, vacuum
from bench.settings import Mode

Side = Literal["acci", "raw", "es"]
SIDES: tuple[Side, ...] = ("acci", "raw", "es")


@dataclass(frozen=True)
class Sample:
    """`events` (or loads, or commands) done in `seconds` of wall time, using `cpu` seconds of this
    process's CPU time (all its threads): near 1.0 x seconds means the client was the bottleneck.
    `latencies`: the time of each append (or command), in seconds, where the workload records it."""

    events: int
    seconds: float
    cpu: float = 0.0
    latencies: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


class Timer:
    """Wall and CPU time from construction to `stop()`."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()

    def stop(self, events: int, latencies: list[float] | None = None) -> Sample:
        return Sample(
            events,
            time.perf_counter() - self.start,
            time.process_time() - self.cpu_start,
            tuple(latencies or ()),
        )


#: A variant's code: given the context and a number unique to this run of this variant within the
#: workload (for naming its streams), it does the work and returns the timed Sample.
Run = Callable[[Context, int], Sample | Coroutine[Any, Any, Sample]]


@dataclass(frozen=True)
class Variant:
    """One way of doing the workload. The first variant of each side is that side's figure in the
    table; the others are references (COPY, the eventsourcing Application) or diagnostics."""

    side: Side
    label: str
    run: Run


@dataclass(frozen=True)
class Target:
    """ACCI's goal for a workload: a ratio to raw or to eventsourcing, or staying flat: taking no more
    than `ratio` times as long per operation as the variant labelled `reference` of the same workload."""

    kind: Literal["raw", "es", "flat"]
    ratio: float
    reference: str = ""

    def describe(self) -> str:
        if self.kind == "flat":
            return f"<= {self.ratio:g}x time of the reference"
        return f">= {self.ratio:g}x {self.kind}"


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    variants: list[Variant]
    unit: str = "events/s"
    setup: Callable[[Context], None] | None = None
    targets: tuple[Target, ...] = ()
    #: What the raw column shows when it is not raw psycopg (a workload of ACCI alone, compared with
    #: itself under other conditions); the table says so under it.
    raw_means: str = ""


@dataclass
class Result:
    workload: Workload
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def rate(self, label: str) -> float | None:
        samples = self.samples.get(label)
        return median(s.rate for s in samples) if samples else None

    def cpu_share(self, label: str) -> float | None:
        """The client's CPU time over wall time (median): how busy the Python process was."""
        samples = self.samples.get(label)
        return median(s.cpu / s.seconds for s in samples if s.seconds > 0) if samples else None

    def latency(self, label: str) -> tuple[float, float] | None:
        """The median and the 99th percentile (seconds) of the variant's recorded latencies, over
        all its samples."""
        values = sorted(x for s in self.samples.get(label, []) for x in s.latencies)
        if not values:
            return None
        return values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]

    def primary(self, side: Side) -> Variant | None:
        return next((v for v in self.workload.variants if v.side == side), None)

    def primary_rate(self, side: Side) -> float | None:
        variant = self.primary(side)
        return self.rate(variant.label) if variant else None


@dataclass(frozen=True)
class Options:
    server_url: str
    mode: Mode
    #: Write a cProfile of each variant of this side (to profile_dir); profiling slows it down.
    profile_side: Side | None = None
    profile_dir: Path = Path(tempfile.gettempdir()) / "acci-bench-profiles"


def run_workload(workload: Workload, options: Options, log: Callable[[str], None]) -> Result:
    result = Result(workload)
    name = f"acci_bench_{os.getpid()}_{workload.name.replace('-', '_')}"
    with fresh_database(options.server_url, name) as url, asyncio.Runner() as runner:
        ctx = Context(url, options.mode, runner)
        try:
            if workload.setup is not None:
                workload.setup(ctx)
            # Readers would otherwise find freshly written pages: the first one to read them sets
            # their hint bits (writes), which would slow whichever side happens to read first.
            vacuum(url)
            variants = list(enumerate(workload.variants))
            for rep in range(options.mode.reps):
                # Each repetition starts with another variant, so that no side always goes first.
                shift = rep % len(variants)
                for index, variant in variants[shift:] + variants[:shift]:
                    run = rep * len(variants) + index
                    sample = _run_variant(ctx, workload, variant, rep, run, options)
                    result.samples.setdefault(variant.label, []).append(sample)
                    log(
                        f"  {workload.name} #{rep + 1} {variant.label}: {sample.rate:,.0f} {workload.unit}"
                        f" (client CPU {sample.cpu / sample.seconds:.0%})"
                    )
        finally:
            ctx.close()
    return result


def _run_variant(
    ctx: Context, workload: Workload, variant: Variant, rep: int, run: int, options: Options
) -> Sample:
    gc.collect()
    profiler = cProfile.Profile() if options.profile_side == variant.side else None
    if profiler:
        profiler.enable()
    outcome = variant.run(ctx, run)
    sample = ctx.runner.run(outcome) if inspect.iscoroutine(outcome) else outcome
    if profiler:
        profiler.disable()
        _save_profile(profiler, workload, variant, rep, options.profile_dir)
    if not isinstance(sample, Sample):
        raise TypeError(f"{workload.name} / {variant.label} returned {sample!r}, not a Sample")
    return sample


def _save_profile(
    profiler: cProfile.Profile, workload: Workload, variant: Variant, rep: int, out: Path
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in variant.label).strip("-").lower()
    base = out / f"{workload.name}--{slug}--{rep + 1}"
    profiler.dump_stats(base.with_suffix(".prof"))
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    base.with_suffix(".txt").write_text(text.getvalue(), encoding="utf-8")
    print(f"  profile: {base}.prof / .txt", file=sys.stderr)
