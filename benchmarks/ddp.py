"""Data-parallel training on the CPU: 2 processes (DDP over gloo) against 1, same global batch.

    python benchmarks/ddp.py [--steps 50] [--precisions 32-true 64-true]

Trains the README demo's model (examples/lstm_dnc.yaml: LSTM 64 + DNC, read vectors fed back) on
``copy`` (6 bits, lengths 1 to 8) for ``--steps`` steps of 16 sequences (each of 2 processes takes
8 of every batch), seed 0, through ``engrammar train`` with ``--accelerator cpu`` and one intra-op
thread per process. Printed per precision: the largest difference between any parameter of the two
runs' final checkpoints, the wall time of each command (start-up included) and its training loop
(the ``seconds`` of the last evaluation line). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train(out: Path, steps: int, precision: str, devices: int) -> tuple[float, float]:
    command = [
        sys.executable, "-m", "engrammar.cli", "train", str(ROOT / "examples" / "lstm_dnc.yaml"), "--task", "copy",
        "--steps", str(steps), "--batch-size", "16", "--seed", "0", "--out", str(out), "--no-progress",
        "--accelerator", "cpu", "--devices", str(devices), "--precision", precision,
        "--set", "task.bits=6", "--set", "task.max_length=8", "--set", "train.lr=3e-3",
        "--set", f"train.eval_every={steps}",
    ]  # fmt: skip
    if devices > 1:
        command += ["--strategy", "ddp"]
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return wall, [r for r in evals if r["split"] == "eval"][-1]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--precisions", nargs="+", default=["32-true", "64-true"])
    args = parser.parse_args()
    from engrammar_train import load_checkpoint

    print("| precision | max abs parameter difference | 1 process: wall s / loop s | 2 processes: wall s / loop s |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as scratch:
        for precision in args.precisions:
            times = {}
            for devices in (1, 2):
                times[devices] = train(Path(scratch) / f"{precision}-{devices}", args.steps, precision, devices)
            one = load_checkpoint(Path(scratch) / f"{precision}-1")["model"]
            two = load_checkpoint(Path(scratch) / f"{precision}-2")["model"]
            difference = max(float((one[k].double() - two[k].double()).abs().max()) for k in one)
            print(
                f"| {precision} | {difference:.2e} | {times[1][0]:.1f} / {times[1][1]:.1f} "
                f"| {times[2][0]:.1f} / {times[2][1]:.1f} |"
            )


if __name__ == "__main__":
    main()
