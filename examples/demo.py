"""The demo: an LSTM controller with a DNC memory learns the copy task on a CPU.

    python examples/demo.py                  # about 90 s of CPU time on one core
    python examples/demo.py --steps 1000     # shorter: under a minute, about 2 bits wrong

It trains examples/lstm_dnc.yaml (LSTM 64, DNC of 32 cells of width 16, 4 read heads, the read
vectors fed back to the controller one step later) on `copy` (6-bit vectors, sequences of 1 to 8),
evaluates every 250 steps on fixed batches, writes metrics.jsonl, a checkpoint, the loss and metric
curves and the DNC's trace plots (usage, read and write weightings, gates, link matrix) into the
output folder, and prints the untrained and final bits wrong per sequence, then `bit_errors: VALUE`.
The same run from the command line:

    engrammar train examples/lstm_dnc.yaml --task copy --steps 2000 --batch-size 16 --out runs/demo \
        --set task.bits=6 --set task.max_length=8 --set train.lr=3e-3 --set train.schedule=cosine \
        --set train.eval_every=250
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import engrammar_train

WIRING = Path(__file__).with_name("lstm_dnc.yaml")
SETTINGS = [
    "task.bits=6",
    "task.max_length=8",
    "train.lr=3e-3",
    "train.schedule=cosine",
    "train.eval_every=250",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    result = engrammar_train.train(
        WIRING, "copy", steps=args.steps, batch_size=16, seed=args.seed, out=args.out, overrides=SETTINGS
    )
    lines = [json.loads(line) for line in (Path(args.out) / "metrics.jsonl").read_text().splitlines()]
    untrained = next(r for r in lines if r["split"] == "eval" and r["step"] == 0)[result.metric_name]
    print(f"{result.metric_name} (bits wrong per sequence): {untrained:.3g} untrained -> {result.metric:.3g}")
    print("plots: " + ", ".join(str(p) for p in result.plots))
    print(f"{result.metric_name}: {result.metric:.4g}")


if __name__ == "__main__":
    main()
