"""``engrammar audit WIRING --task NAME``: audit a model on a task before training it.

Builds the model as ``engrammar train`` would (the task's input width, a read-out to its output
width when needed) and prints the initialization, gradient flow, data loader and memory audits
with recommendations. Exit status 0 when the audit ran (whatever it found), 2 on bad input.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="audit a model's initialization, gradient flow and data loading on a task",
        description="Audit WIRING on a task: --set task.<field>=... for the task, anything else for the model.",
    )
    parser.add_argument("wiring", help="a wiring file (YAML/TOML/JSON) or a component name such as lstm")
    parser.add_argument("--task", required=True, help="task name (see `engrammar list tasks`)")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per batch (32)")
    parser.add_argument("--batches", type=int, default=20, help="loader batches timed (20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of parameters and batches (0)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="a setting (repeatable)"
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")


def run(args: argparse.Namespace) -> int:
    from engrammar.spec import SpecError

    from engrammar_train.audit.on_task import audit_task

    for flag, count in (("--batches", args.batches), ("--batch-size", args.batch_size)):
        if count < 1:
            raise SpecError(flag, f"must be >= 1, got {count}")
    audit_task(
        args.wiring,
        args.task,
        batch_size=args.batch_size,
        batches=args.batches,
        seed=args.seed,
        overrides=args.overrides,
        device=args.device,
    )
    return 0
