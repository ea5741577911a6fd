"""``DataLoaderAuditor``: how long a data loader takes to hand over each batch, and at what cost.

    stats = DataLoaderAuditor().benchmark_dataloader(loader, n_batches=100)

Each batch is timed from asking for it to having it (``next()`` on the loader's iterator; the first
batch, which pays for starting workers, is timed apart as ``first_batch_ms``). CPU use is the CPU
time of this process (all its threads) over the wall time, in percent of one core; worker
processes (``num_workers > 0``) are not counted. Peak memory is the largest resident set size of
this process sampled after each batch (Linux ``/proc``; elsewhere the process's lifetime peak).

Verdicts: slow when the mean batch time is above ``slow_batch_ms`` (100 ms); fast below
``fast_batch_ms`` (10 ms). Inside :func:`run_full_audit` the batch time is also compared with the
time of one training step, which is what decides whether loading is the bottleneck.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

import attrs

from .report import emit, heading, recommendations

__all__ = ["DataLoaderAuditor", "LoaderStats"]


@attrs.frozen
class LoaderStats:
    """Times in milliseconds over the timed batches (the first one apart), CPU use in percent of
    one core, peak resident memory in MiB."""

    batches: int
    mean_ms: float
    median_ms: float
    p95_ms: float
    max_ms: float
    first_batch_ms: float
    cpu_percent: float
    peak_memory_mb: float
    num_workers: int | None

    def __getitem__(self, key: str) -> Any:  # the seed read its stats as a dict
        return getattr(self, key)


def resident_memory_mb() -> float:
    """This process's resident set size now (Linux), else its lifetime peak, in MiB."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


class DataLoaderAuditor:
    """Times the batches of a data loader (any iterable of batches)."""

    def __init__(self, *, slow_batch_ms: float = 100.0, fast_batch_ms: float = 10.0) -> None:
        if not 0 < fast_batch_ms <= slow_batch_ms:
            raise ValueError(f"fast_batch_ms: must be > 0 and <= slow_batch_ms ({slow_batch_ms}), got {fast_batch_ms}")
        self.slow_batch_ms = slow_batch_ms
        self.fast_batch_ms = fast_batch_ms
        self.stats: LoaderStats | None = None
        self.step_ms: float | None = None

    def benchmark_dataloader(
        self, dataloader: Iterable[Any], n_batches: int = 100, *, quiet: bool = False
    ) -> LoaderStats:
        """Time up to ``n_batches`` batches after the first (fewer if the loader ends sooner).
        Prints the report unless ``quiet``."""
        if n_batches < 1:
            raise ValueError(f"n_batches: must be >= 1, got {n_batches}")
        iterator = iter(dataloader)
        start = time.perf_counter()
        try:
            next(iterator)
        except StopIteration:
            raise ValueError("dataloader: gave no batch") from None
        first_ms = 1000 * (time.perf_counter() - start)
        times: list[float] = []
        peak = resident_memory_mb()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(n_batches):
            start = time.perf_counter()
            try:
                next(iterator)
            except StopIteration:
                break
            times.append(1000 * (time.perf_counter() - start))
            peak = max(peak, resident_memory_mb())
        wall = time.perf_counter() - wall_start
        cpu = 100 * (time.process_time() - cpu_start) / wall if wall > 0 else 0.0
        if not times:  # a loader of one batch: report that one
            times = [first_ms]
        ordered = sorted(times)
        self.stats = LoaderStats(
            batches=len(times),
            mean_ms=statistics.fmean(times),
            median_ms=statistics.median(times),
            p95_ms=ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)],
            max_ms=ordered[-1],
            first_batch_ms=first_ms,
            cpu_percent=cpu,
            peak_memory_mb=peak,
            num_workers=getattr(dataloader, "num_workers", None),
        )
        if not quiet:
            self.print_report()
        return self.stats

    def is_slow(self) -> bool:
        assert self.stats is not None
        slow = self.stats.mean_ms > self.slow_batch_ms
        return slow or (self.step_ms is not None and self.stats.mean_ms > self.step_ms)

    def advice(self) -> list[str]:
        """Concrete recommendations, one line each (empty when loading is no bottleneck)."""
        if self.stats is None or not self.is_slow():
            return []
        stats = self.stats
        against = (
            f"longer than a training step ({self.step_ms:.1f} ms)"
            if self.step_ms is not None and stats.mean_ms > self.step_ms
            else f"above {self.slow_batch_ms:g} ms"
        )
        workers = stats.num_workers
        cores = os.cpu_count() or 1
        if workers == 0:
            fix = (
                f"the loader works in the training process (num_workers=0): give it num_workers={min(4, cores)} "
                "and persistent_workers=True so batches are prepared while the model trains"
            )
        elif workers is not None:
            fix = (
                f"with num_workers={workers}, the workers cannot keep up: raise it (this machine has {cores} "
                "cores), raise prefetch_factor, or move per-sample work (decoding, augmentation) into a "
                "precomputed dataset"
            )
        else:
            fix = "wrap the data in a torch DataLoader with num_workers > 0, or precompute the batches"
        return [f"batches take {stats.mean_ms:.1f} ms on average (p95 {stats.p95_ms:.1f} ms), {against}: {fix}"]

    def report_lines(self) -> list[str]:
        lines = heading("DATALOADER BENCHMARK")
        if self.stats is None:
            return [*lines, "No benchmark yet: call benchmark_dataloader(loader) first."]
        stats = self.stats
        lines += [
            f"Batches timed: {stats.batches} (the first, {stats.first_batch_ms:.1f} ms, apart)",
            f"Mean batch time: {stats.mean_ms:.1f} ms",
            f"Median / p95 / max: {stats.median_ms:.1f} / {stats.p95_ms:.1f} / {stats.max_ms:.1f} ms",
            f"CPU usage: {stats.cpu_percent:.0f}% of one core (this process; workers not counted)",
            f"Memory: {stats.peak_memory_mb:.0f} MB (peak resident set of this process)",
        ]
        if self.step_ms is not None:
            lines.append(f"Training step (forward + backward): {self.step_ms:.1f} ms")
        healthy = (
            "Data loading is fast!"
            if stats.mean_ms < self.fast_batch_ms
            else "Data loading keeps up (no bottleneck found)."
        )
        return lines + recommendations(self.advice(), healthy)

    def print_report(self, file: TextIO | None = None) -> None:
        """Print the report (to stdout, or ``file``)."""
        emit(self.report_lines(), file)
