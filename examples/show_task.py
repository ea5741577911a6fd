"""Print one sample of a task, step by step: its inputs, targets and loss mask.

    python examples/show_task.py n_back n=2 length=8
    python examples/show_task.py babi_like variant=2 sentences=3

Fields are ``key=value`` (read as YAML); the sample is drawn with seed 0 (``--seed`` to change).
Token tasks show the arg-max of each one-hot input (and the words, for ``babi_like``).
"""

from __future__ import annotations

import argparse

import engrammar
import torch
from engrammar.wiring.loader import parse_assignment


def _row(values: torch.Tensor) -> str:
    return " ".join(f"{float(v):+.2f}" if float(v) != int(v) else f"{int(v)}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("fields", nargs="*", help="key=value")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task = engrammar.build(args.task, **dict(parse_assignment(item) for item in args.fields))
    batch = task.sample(1, torch.Generator().manual_seed(args.seed))
    tokens = batch.targets.dim() == 2  # targets are token ids
    words = None
    if args.task == "babi_like":
        from engrammar_tasks.babi_like import VOCABULARY as words
    print(
        f"{args.task}: inputs {tuple(batch.inputs.shape)}, targets {tuple(batch.targets.shape)}, metric {task.metric_name}"
    )
    print(f"chance level {task.chance_level:.4g}, solved at {task.threshold:.4g}")
    print("step | input | target | scored")
    for t in range(batch.inputs.shape[1]):
        x, y, m = batch.inputs[0, t], batch.targets[0, t], bool(batch.mask[0, t])
        if tokens:
            shown_x = words[int(x.argmax())] if words else str(int(x.argmax()))
            shown_y = (words[int(y)] if words else str(int(y))) if m else "-"
        else:
            shown_x, shown_y = _row(x), (_row(y) if m else "-")
        print(f"{t:4d} | {shown_x} | {shown_y} | {'yes' if m else ''}")


if __name__ == "__main__":
    main()
