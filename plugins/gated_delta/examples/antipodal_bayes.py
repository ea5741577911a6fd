"""The best any model can do on ``antipodal``: the exact Bayes filter (forward algorithm) of the
two-state hidden Markov chain that generates the data, scored with the task's own metrics.

With log-odds l_t = log P(s_t = +1 | x_1..x_t) / P(s_t = -1 | x_1..x_t),

    l_t = log(((1 - p) e^{l_{t-1}} + p) / (p e^{l_{t-1}} + 1 - p)) + 2 μ·x_t / noise²,   l_0 = 0

Prints the metrics on the same evaluation batches ``engrammar train`` scores a run of seed 0 on
(4 batches of 32 from the trainer's evaluation generator), so they sit beside a trained model's:

    python plugins/gated_delta/examples/antipodal_bayes.py [--batches 4] [--batch-size 32] [--set p_switch=0.01 ...]
"""

from __future__ import annotations

import argparse
import json

import engrammar
import torch
from engrammar_train.scoring import EVAL_SEED_OFFSET


def bayes_log_odds(inputs: torch.Tensor, pattern: torch.Tensor, p_switch: float, noise: float) -> torch.Tensor:
    """inputs (B, T, D) -> filtered log-odds of regime +1, (B, T)."""
    evidence = 2 * inputs @ pattern / noise**2
    log_odds = torch.zeros(inputs.shape[0], dtype=inputs.dtype)
    out = []
    for t in range(inputs.shape[1]):
        if t > 0:  # predict: the regime may have flipped since the last step
            stay = torch.tensor(1 - p_switch, dtype=inputs.dtype)
            flip = torch.tensor(p_switch, dtype=inputs.dtype)
            log_odds = torch.logaddexp(stay.log() + log_odds, flip.log()) - torch.logaddexp(
                flip.log() + log_odds, stay.log()
            )
        log_odds = log_odds + evidence[:, t]
        out.append(log_odds)
    return torch.stack(out, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="task setting, e.g. p_switch=0.01"
    )
    args = parser.parse_args()
    settings = {key: float(value) if "." in value else int(value) for key, value in (s.split("=", 1) for s in args.set)}
    task = engrammar.build({"use": "antipodal", **settings})
    generator = torch.Generator().manual_seed(args.seed + EVAL_SEED_OFFSET)
    totals: dict[str, float] = {}
    for _ in range(args.batches):
        batch = task.sample(args.batch_size, generator)
        log_odds = bayes_log_odds(batch.inputs.double(), task.pattern.double(), task.spec.p_switch, task.spec.noise)
        logits = torch.stack([-log_odds / 2, log_odds / 2], dim=-1)
        for name, value in task.metrics(logits, batch).items():
            totals[name] = totals.get(name, 0.0) + value / args.batches
    print(json.dumps({"bayes_filter": totals}, indent=2))


if __name__ == "__main__":
    main()
