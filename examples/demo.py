"""The demo: an LSTM controller with core's `ema` memory learns the copy task on a CPU.

    python examples/demo.py                  # under a minute on one CPU core
    python examples/demo.py --steps 3000     # longer: fewer bits wrong

It trains examples/demo_lstm_ema.yaml on `copy` (6-bit vectors, sequences of 1 to 5), evaluates
every 250 steps on fixed batches, writes metrics.jsonl, a checkpoint and PNG plots into the output
folder, and prints the untrained and final bits wrong per sequence, then `bit_errors: VALUE`.
The same run from the command line:

    engrammar train examples/demo_lstm_ema.yaml --task copy --steps 1500 --out runs/demo \
        --set task.bits=6 --set task.max_length=5 --set train.lr=3e-3 --set train.eval_every=250
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import engrammar

WIRING = Path(__file__).with_name("demo_lstm_ema.yaml")
SETTINGS = ["task.bits=6", "task.max_length=5", "train.lr=3e-3", "train.eval_every=250"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    result = engrammar.train(WIRING, "copy", steps=args.steps, seed=args.seed, out=args.out, overrides=SETTINGS)
    lines = [json.loads(line) for line in (Path(args.out) / "metrics.jsonl").read_text().splitlines()]
    untrained = next(r for r in lines if r["split"] == "eval" and r["step"] == 0)[result.metric_name]
    print(f"{result.metric_name} (bits wrong per sequence): {untrained:.3g} untrained -> {result.metric:.3g}")
    print("plots: " + ", ".join(str(p) for p in result.plots))
    print(f"{result.metric_name}: {result.metric:.4g}")


if __name__ == "__main__":
    main()
