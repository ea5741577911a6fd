"""The Fabric trainer against the first release's trainer, on the README demo.

    python benchmarks/trainer_loop.py --old-python OLD/.venv/bin/python --old-tree OLD [--runs 3]

``OLD`` is a checkout of the first release (the commit before the trainer moved out of core, with
core, controllers, dnc and tasks installed into its own environment; docs/training.md gives the
commands). Both trainers run the demo's settings — examples/lstm_dnc.yaml on ``copy``, 6 bits,
lengths 1 to 8, 2000 steps of 16 sequences, AdamW 3e-3, cosine schedule, evaluations every 250
steps, seed 0 — through their ``engrammar train`` command, one process, one intra-op thread,
alternately, ``--runs`` times each. Printed: the evaluation curve (bits wrong per sequence at every
evaluated step) of each, whether the two are identical, and the medians of the wall time and of the
CPU time of the whole command (start-up included) and of the training loop (the ``seconds`` of the
last evaluation line). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [
    "--task", "copy", "--batch-size", "16", "--seed", "0", "--no-progress",
    "--set", "task.bits=6", "--set", "task.max_length=8", "--set", "train.lr=3e-3",
    "--set", "train.schedule=cosine", "--set", "train.eval_every=250",
]  # fmt: skip


def run(python: str, tree: Path, out: Path, steps: int) -> dict:
    command = [python, "-m", "engrammar.cli", "train", str(tree / "examples" / "lstm_dnc.yaml"), *SETTINGS]
    command += ["--steps", str(steps), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=tree, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in lines if r["split"] == "eval"]
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "loop": evals[-1]["seconds"],
        "curve": [(r["step"], r["bit_errors"]) for r in evals],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-python", required=True, help="python of the first release's environment")
    parser.add_argument("--old-tree", required=True, type=Path, help="checkout of the first release")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    trainers = {"first release": (args.old_python, args.old_tree.resolve()), "Fabric": (sys.executable, ROOT)}
    results: dict[str, list[dict]] = {name: [] for name in trainers}
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.runs):
            for name, (python, tree) in trainers.items():
                results[name].append(run(python, tree, Path(scratch) / f"{name}-{index}", args.steps))
                print(f"run {index + 1} {name}: {results[name][-1]['wall']:.1f} s", file=sys.stderr)
    curves = {name: runs[0]["curve"] for name, runs in results.items()}
    print("bits wrong per sequence at each evaluation (seed 0):")
    print(f"| step | {' | '.join(trainers)} |")
    print(f"| --- | {' | '.join('---' for _ in trainers)} |")
    for position, (step, _) in enumerate(curves["Fabric"]):
        print(f"| {step} | {' | '.join(f'{curves[n][position][1]:.4g}' for n in trainers)} |")
    same = all(run["curve"] == curves["Fabric"] for runs in results.values() for run in runs)
    print(f"\nevery run of both trainers gives the same curve: {same}")
    print(f"\n| trainer | wall s (median of {args.runs}) | CPU s | training loop s |")
    print("| --- | --- | --- | --- |")
    medians = {}
    for name, runs in results.items():
        medians[name] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu", "loop")}
        m = medians[name]
        print(f"| {name} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['loop']:.1f} |")
    ratio = {k: medians["Fabric"][k] / medians["first release"][k] for k in ("wall", "cpu", "loop")}
    print(f"| Fabric / first release | {ratio['wall']:.3f} | {ratio['cpu']:.3f} | {ratio['loop']:.3f} |")


if __name__ == "__main__":
    main()
