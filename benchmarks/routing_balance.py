"""How routing shares the tokens among experts, and what that does to the task: the mixture of
memories (examples/mixture_of_memories.yaml: a linear controller, three ema memories with decays
0.3 / 0.8 / 0.97, a moe node, a linear head) trained on ``antipodal`` with each router setting.

    python benchmarks/routing_balance.py [--steps 400] [--seeds 0 1 2] [--threads 1]

Needs engrammar-train, engrammar-tasks and engrammar-routers. Each row trains one setting for
``--steps`` steps of 32 sequences of 200 steps (AdamW, lr 3e-3, the trainer's defaults otherwise)
per seed, then routes one evaluation batch of 32 sequences (seed 1234, evaluation mode, so no
noise) and reports, as mean (min - max) over the seeds:

- ``accuracy``, ``after switch``: the task's metrics at the end of training;
- ``load entropy``: H(f) / ln E, where f_e is the share of the evaluation batch's tokens routed to
  expert e (weights scaled to sum to 1 per token): 1 when every expert gets a third, 0 when one
  expert gets every token;
- ``top share``: the largest f_e; ``dropped``: the share of tokens no expert took (capacity).

Nothing is asserted; the table is what docs/routers.md quotes.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import engrammar
import torch
from engrammar.nn.routing_plots import routing_shares
from engrammar_train import train

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: setting -> (wiring file, dotted overrides)
SETTINGS: dict[str, tuple[str, dict[str, object]]] = {
    "built-in top-1, balance 0": ("mixture_top1.yaml", {"nodes.mix.balance_weight": 0.0}),
    "built-in top-1, balance 0.01 (mixture_top1.yaml)": ("mixture_top1.yaml", {}),
    "built-in soft, balance 0.01 (mixture_of_memories.yaml)": ("mixture_of_memories.yaml", {}),
    "topk_router top-1, balance 0.1": (
        "mixture_of_memories.yaml",
        {
            "nodes.mix.router": {"use": "topk_router", "in": "ctrl", "top_k": 1, "balance_weight": 0.1},
            "nodes.mix.balance_weight": None,
        },
    ),
    "topk_router noisy top-1, capacity 1.25, balance 0.01 (mixture_topk_router.yaml)": ("mixture_topk_router.yaml", {}),
    "hash_router (position)": (
        "mixture_of_memories.yaml",
        {"nodes.mix.router": {"use": "hash_router", "in": "ctrl", "key": "position"}, "nodes.mix.balance_weight": None},
    ),
}

TASK = {"use": "antipodal"}


def load_shares(model: torch.nn.Module, task) -> tuple[torch.Tensor, float]:
    """Share of the evaluation tokens per expert (E,), and the share no expert took."""
    batch = task.sample(32, torch.Generator().manual_seed(1234))
    model.eval()
    with torch.no_grad(), engrammar.recording(model, traces=True) as record:
        model(batch.inputs)
    (weights,) = [trace["weights"] for trace in record.traces.values() if "weights" in trace]
    shares = routing_shares(weights, window=weights.shape[1])[-1]  # the mean over every step
    return shares, max(0.0, float(1.0 - shares.sum()))  # rounding can leave -1e-16


def entropy(shares: torch.Tensor) -> float:
    f = shares / shares.sum()
    return max(0.0, float(-(f * f.clamp_min(1e-12).log()).sum() / math.log(len(f))))


def summary(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ({min(values):.3f} - {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="settings whose name contains one of these")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"antipodal, {args.steps} steps x 32 sequences, seeds {args.seeds}; mean (min - max) over seeds\n")
    print("| setting | accuracy | after switch | load entropy | top share | dropped | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, (file, overrides) in SETTINGS.items():
        if args.only and not any(part in name for part in args.only):
            continue
        rows: dict[str, list[float]] = {k: [] for k in ("accuracy", "after", "entropy", "top", "dropped", "seconds")}
        for seed in args.seeds:
            started = time.process_time()
            result = train(
                str(EXAMPLES / file), TASK, steps=args.steps, batch_size=32, seed=seed, progress=False,
                overrides={**{k: v for k, v in overrides.items()}, "train.lr": 3e-3},
            )  # fmt: skip
            shares, dropped = load_shares(result.model, result.trainer.task)
            rows["accuracy"].append(result.metrics["accuracy"])
            rows["after"].append(result.metrics["accuracy_after_switch"])
            rows["entropy"].append(entropy(shares))
            rows["top"].append(float(shares.max() / shares.sum()))
            rows["dropped"].append(dropped)
            rows["seconds"].append(time.process_time() - started)
        cells = [summary(rows[k]) for k in ("accuracy", "after", "entropy", "top", "dropped")]
        print(f"| {name} | {' | '.join(cells)} | {statistics.mean(rows['seconds']):.0f} |", flush=True)


if __name__ == "__main__":
    main()
