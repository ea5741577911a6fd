"""``engrammar train WIRING --task NAME``: train a wiring (or a component by name) on a task.

The task sets the input width and a linear read-out to the task's output width is added when the
model ends at another width. The output folder gets ``metrics.jsonl``, ``spec.json``,
``checkpoint.safetensors``, ``best.safetensors`` and PNG plots; the last line printed is
``METRIC: VALUE``. With ``-m``, every ``--set`` whose value lists choices (``key=a,b``) is swept:
one run per combination, each in its own folder, and a summary table (``summary.csv``).
"""

from __future__ import annotations

import argparse
from typing import Any

#: Command-line flags that set a field of the training config, with that field's name.
CONFIG_FLAGS = {
    "steps": "steps",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "seed": "seed",
    "accelerator": "accelerator",
    "devices": "devices",
    "strategy": "strategy",
    "num_nodes": "num_nodes",
    "precision": "precision",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a wiring (or a component by name) on a task",
        description=(
            "Train WIRING on a task. --set keys: task.<field> for the task, train.<field> for the trainer "
            "(lr, optimizer, schedule, grad_clip, tbptt, eval_every, patience, ...), anything else for "
            "the model (nodes.ctrl.hidden_size=64 in a wiring, hidden_size=64 for a component name)."
        ),
    )
    parser.add_argument("wiring", help="a wiring file (YAML/TOML/JSON) or a component name such as lstm")
    parser.add_argument("--task", required=True, help="task name (see `engrammar list tasks`)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 1000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of eval_every steps (instead of --steps)")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per step, over all devices (32)")
    parser.add_argument("--out", default=None, help="output folder (default runs/<wiring>-<task>)")
    parser.add_argument("--seed", type=int, default=None, help="seed of parameters, data and dropout (default 0)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="a setting (repeatable)"
    )
    parser.add_argument("--config", default=None, help="training settings file (YAML/TOML/JSON: train fields)")
    parser.add_argument(
        "--trick", dest="tricks", action="append", default=[], metavar="NAME[:KEY=VALUE,...]", help="a trick"
    )
    parser.add_argument(
        "--logger",
        dest="loggers",
        action="append",
        default=[],
        metavar="NAME[:KEY=VALUE,...]",
        help="a logger beside metrics.jsonl and the plots: tensorboard, mlflow, ...",
    )
    parser.add_argument("-m", "--multirun", action="store_true", help="sweep: --set key=a,b runs every choice")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--accelerator", default=None, help="auto (default), cpu, cuda, mps, ...")
    parser.add_argument("--devices", default=None, help="processes per node (1), device indices '0,1', or auto")
    parser.add_argument("--strategy", default=None, help="auto (default), ddp, fsdp")
    parser.add_argument("--num-nodes", type=int, default=None, help="machines (default 1)")
    parser.add_argument("--precision", default=None, help="32-true (default), 64-true, bf16-mixed, 16-mixed, ...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def default_out(wiring: str, task: str) -> str:
    from pathlib import Path

    return str(Path("runs") / f"{Path(wiring).stem}-{task}")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from engrammar.spec import load_mapping

    config: dict[str, Any] = dict(load_mapping(args.config)) if args.config else {}
    for flag, field in CONFIG_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            config[field] = int(value) if field == "devices" and str(value).isdigit() else value
    return config


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engrammar.spec import SpecError

    out = args.out or default_out(args.wiring, args.task)
    if Path(out).exists() and not Path(out).is_dir():
        raise SpecError("--out", f"{out} is a file; the output folder must be a folder")
    if args.multirun:
        from engrammar_train.sweep import run_sweep

        return run_sweep(args, out, _config(args))
    from engrammar_train import train

    try:
        result = train(
            args.wiring,
            args.task,
            out=out,
            overrides=list(args.overrides),
            config=_config(args),
            tricks=args.tricks,
            loggers=args.loggers,
            resume=args.resume,
            progress=not args.no_progress,
        )
    except OSError as err:  # an output folder that cannot be written: one line, no traceback
        raise SpecError(str(err.filename or out), err.strerror or str(err)) from None
    if not result.trainer.is_main:
        return 0  # the first process reports
    print(f"trained {result.step} steps; run folder: {result.out_dir}")
    print(f"checkpoint: {result.checkpoint}")
    print("plots: " + ", ".join(str(p) for p in result.plots))
    print(f"{result.metric_name}: {result.metric:.6g}")
    return 0
