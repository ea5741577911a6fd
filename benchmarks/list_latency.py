"""Wall time of `engrammar list` (a fresh process each run), median of several runs.

    python benchmarks/list_latency.py [--runs 5]

Prints a table: the command, the median and the spread, next to `python -c pass` as the baseline
(interpreter start-up) measured in the same process, and the ratio between them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(args: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    baseline = wall([sys.executable, "-c", "pass"], runs)
    listing = wall([sys.executable, "-m", "engrammar.cli", "list"], runs)
    count = subprocess.run(
        [sys.executable, "-c", "import engrammar; print(len(engrammar.components()))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"engrammar list with {count} registered names, {runs} runs each")
    print(f"{'command':<28}{'median s':>10}{'min s':>10}{'max s':>10}")
    for name, times in (("python -c pass", baseline), ("engrammar list", listing)):
        print(f"{name:<28}{statistics.median(times):>10.3f}{min(times):>10.3f}{max(times):>10.3f}")
    print(f"ratio list / interpreter start-up: {statistics.median(listing) / statistics.median(baseline):.2f}x")


if __name__ == "__main__":
    main()
