"""``engrammar train WIRING --task NAME``: train a wiring (or a component by name) on a task.

The task sets the input width and a linear read-out to the task's output width is added when the
model ends at another width. The output folder gets ``metrics.jsonl``, ``spec.json``,
``checkpoint.safetensors`` and PNG plots; the last line printed is ``METRIC: VALUE``.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a wiring (or a component by name) on a task",
        description=(
            "Train WIRING on a task. --set keys: task.<field> for the task, train.<field> for the trainer "
            "(lr, optimizer, schedule, grad_clip, precision, tbptt, eval_every, ...), anything else for "
            "the model (nodes.ctrl.hidden_size=64 in a wiring, hidden_size=64 for a component name)."
        ),
    )
    parser.add_argument("wiring", help="a wiring file (YAML/TOML/JSON) or a component name such as lstm")
    parser.add_argument("--task", required=True, help="task name (see `engrammar list tasks`)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 1000)")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per step (default 32)")
    parser.add_argument("--out", default=None, help="output folder (default runs/<wiring>-<task>)")
    parser.add_argument("--seed", type=int, default=None, help="seed of parameters, data and dropout (default 0)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="a setting (repeatable)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, ...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def default_out(wiring: str, task: str) -> str:
    from pathlib import Path

    return str(Path("runs") / f"{Path(wiring).stem}-{task}")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engrammar.spec import SpecError

    from engrammar_train import train

    overrides = list(args.overrides)
    if args.device is not None:
        overrides.append(f"train.device={args.device}")
    out = args.out or default_out(args.wiring, args.task)
    if Path(out).exists() and not Path(out).is_dir():
        raise SpecError("--out", f"{out} is a file; the output folder must be a folder")
    try:
        result = train(
            args.wiring,
            args.task,
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            out=out,
            overrides=overrides,
            resume=args.resume,
            progress=not args.no_progress,
        )
    except OSError as err:  # an output folder that cannot be written, a full disk: one line, no traceback
        raise SpecError(str(err.filename or out), err.strerror or str(err)) from None
    print(f"trained {result.step} steps; run folder: {result.out_dir}")
    print(f"checkpoint: {result.checkpoint}")
    print("plots: " + ", ".join(str(p) for p in result.plots))
    print(f"{result.metric_name}: {result.metric:.6g}")
    return 0
