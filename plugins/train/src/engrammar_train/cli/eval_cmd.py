"""``engrammar eval CHECKPOINT --task NAME``: score a trained model on a task.

CHECKPOINT is a ``checkpoint.safetensors`` file or the run folder holding one. The model is rebuilt
from the spec saved in it (no pickle). The task defaults to the one it was trained on, with the same
settings; ``--set task.<field>=value`` changes them (longer sequences, say). The last line printed
is ``METRIC: VALUE``.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a checkpoint on a task")
    parser.add_argument("checkpoint", help="checkpoint.safetensors, or a run folder")
    parser.add_argument("--task", default=None, help="task name (default: the task it was trained on)")
    parser.add_argument("--batches", type=int, default=None, help="batches to average over (default: the run's)")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per batch (default: the run's)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the evaluation batches (default: the run's)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="task.KEY=VALUE", help="a task setting"
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")


def run(args: argparse.Namespace) -> int:
    from engrammar.spec import SpecError

    from engrammar_train import evaluate_checkpoint

    for flag, count in (("--batches", args.batches), ("--batch-size", args.batch_size)):
        if count is not None and count < 1:
            raise SpecError(flag, f"must be >= 1, got {count}")

    metrics, task = evaluate_checkpoint(
        args.checkpoint,
        args.task,
        overrides=args.overrides,
        batches=args.batches,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
    )
    for name, value in metrics.items():
        if name != task.metric_name:
            print(f"{name}: {value:.6g}")
    print(f"{task.metric_name}: {metrics[task.metric_name]:.6g}")
    return 0
