"""``engrammar bench --models M1,M2 --tasks T1,T2 --steps N --seeds K --out DIR``: the leaderboard.

Every model trains on every task with every seed (a *cell*), in ``--jobs`` processes at once. A
model is a registry name, placed in the standard small wiring (an embedding, the component, an MLP
over both; see :func:`engrammar_train.bench.standard_wiring`), or a wiring file used as it is. Each
finished cell is stored in ``DIR/cells/``; running the same command again reuses them, so a new
model or seed runs only its own cells. ``DIR`` gets ``bench.csv``, ``bench.md`` (the matrix, then
one row per model and task: mean ± spread over seeds, steps to the task's threshold, wall time,
parameters, state bytes per sample) and ``bench.png`` (a heat map).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="train every model on every task over seeds; a resumable leaderboard (CSV, Markdown, heat map)",
        description=(
            "Train each model (a registry name, in the standard small wiring, or a wiring file) on each task "
            "with each seed, store every finished cell in --out and write bench.csv, bench.md and bench.png "
            "there. Rerunning the command reuses the finished cells. --set keys: TASK.<field> for a task "
            "(copy.max_length=8), MODEL.<field> for a model's component (ntm.memory_size=32), train.<field> "
            "for the trainer (train.lr=1e-3)."
        ),
    )
    parser.add_argument("--models", required=True, help="comma-separated registry names or wiring files")
    parser.add_argument("--tasks", required=True, help="comma-separated task names (see `engrammar list tasks`)")
    parser.add_argument("--steps", type=int, default=500, help="optimizer steps per cell (500)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per model and task: 0 .. K-1 (2)")
    parser.add_argument("--out", required=True, help="folder of the cells and reports")
    parser.add_argument("--jobs", type=int, default=None, help="cells trained at once (default: the CPU cores)")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per step (16)")
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate (3e-3)")
    parser.add_argument("--eval-every", type=int, default=None, help="steps between evaluations (steps / 10)")
    parser.add_argument("--width", type=int, default=32, help="width of the standard wiring (32)")
    parser.add_argument(
        "--preset",
        choices=("small", "none"),
        default="small",
        help="task sizes: small (the bench's, see docs/leaderboard.md) or none (each task's defaults)",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="a setting (repeatable)"
    )
    parser.add_argument("--report", action="store_true", help="only write the reports from the finished cells")


def _names(text: str, flag: str) -> list[str]:
    from engrammar.spec import SpecError

    names = [name.strip() for name in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise SpecError(flag, f"expected comma-separated names, got {text!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SpecError(flag, f"{repeated[0]!r} is listed twice")
    return names


def _check_model(model: str) -> None:
    from pathlib import Path

    from engrammar.registry import resolve
    from engrammar.spec import SpecError
    from engrammar.wiring.loader import is_wiring_path

    if is_wiring_path(model):
        if not Path(model).is_file():
            raise SpecError("--models", f"wiring file {model} does not exist")
        return
    info = resolve(model)  # an unknown name: the registry's message, with suggestions
    if info.kind not in ("memories", "controllers", "layers"):
        raise SpecError("--models", f"{model!r} is a {info.kind[:-1]}, not a memory or controller")


def _check_task(task: str) -> None:
    from engrammar.registry import resolve
    from engrammar.spec import SpecError

    info = resolve(task)
    if info.kind != "tasks":
        raise SpecError("--tasks", f"{task!r} is a {info.kind[:-1]}, not a task (see `engrammar list tasks`)")


def _split_settings(
    overrides: list[str], models: list[str], tasks: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    from engrammar.spec import SpecError

    from engrammar_train.extensions import parse_setting

    per_model: dict[str, dict[str, Any]] = {}
    per_task: dict[str, dict[str, Any]] = {}
    train: dict[str, Any] = {}
    for item in overrides:
        key, equals, value = item.partition("=")
        prefix, dot, field = key.strip().partition(".")
        if not equals or not dot or not field:
            raise SpecError("--set", f"expected PREFIX.FIELD=VALUE (copy.max_length=8, train.lr=1e-3), got {item!r}")
        parsed = parse_setting(value)
        if prefix == "train":
            train[field] = parsed
        elif prefix in tasks:
            per_task.setdefault(prefix, {})[field] = parsed
        elif prefix in models:
            per_model.setdefault(prefix, {})[field] = parsed
        else:
            raise SpecError("--set", f"{key}: {prefix!r} is none of the --tasks, the --models (by name) or train")
    return per_model, per_task, train


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from engrammar.spec import SpecError

    from engrammar_train import bench
    from engrammar_train.model import build_task

    models = _names(args.models, "--models")
    tasks = _names(args.tasks, "--tasks")
    for flag, value in (("--steps", args.steps), ("--seeds", args.seeds), ("--width", args.width)):
        if value < 1:
            raise SpecError(flag, f"must be >= 1, got {value}")
    for flag, value in (("--jobs", args.jobs), ("--batch-size", args.batch_size), ("--eval-every", args.eval_every)):
        if value is not None and value < 1:
            raise SpecError(flag, f"must be >= 1, got {value}")
    if args.lr <= 0:
        raise SpecError("--lr", f"must be > 0, got {args.lr}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SpecError("--out", f"{out} is a file; the bench writes a folder")
    for model in models:
        _check_model(model)
    for task in tasks:
        _check_task(task)
    per_model, per_task, train_settings = _split_settings(list(args.overrides), models, tasks)
    task_fields = {}
    for task in tasks:
        fields = {**(bench.SMALL_TASKS.get(task, {}) if args.preset == "small" else {}), **per_task.get(task, {})}
        build_task({"use": task, **fields})  # a bad field fails here, before anything runs
        task_fields[task] = fields
    train_config = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "eval_every": args.eval_every or max(args.steps // 10, 1),
        "log_every": args.steps,
        **train_settings,
    }
    from engrammar.spec import structure

    from engrammar_train.config import TrainConfig

    structure(train_config, TrainConfig, path="train")  # bad trainer settings fail before anything runs

    cells = [
        bench.Cell(
            model=model,
            task=task,
            seed=seed,
            task_fields=task_fields[task],
            model_fields=per_model.get(model, {}),
            train=train_config,
            width=args.width,
        )
        for model in models
        for task in tasks
        for seed in range(args.seeds)
    ]
    records: dict[int, dict[str, Any]] = {}
    for index, cell in enumerate(cells):
        stored = bench.stored_record(out, cell)
        if stored is not None:
            records[index] = stored
    pending = [index for index in range(len(cells)) if index not in records]
    if args.report:
        pending = []
    else:
        jobs = args.jobs or os.cpu_count() or 1
        print(
            f"{len(cells)} cell(s): {len(records)} finished before, {len(pending)} to run in {min(jobs, max(len(pending), 1))} process(es)",
            flush=True,
        )
        for done, (index, record) in enumerate(_run_cells(cells, pending, out, jobs), start=1):
            records[index] = record
            print(f"[{done}/{len(pending)}] {_describe(record)}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    paths = bench.write_reports(out, [records[i] for i in sorted(records)], models, tasks)
    print("reports: " + ", ".join(str(path) for path in paths.values()))
    failed = sum(1 for record in records.values() if "error" in record)
    if failed:
        print(f"{failed} cell(s) failed; their errors are in the reports")
    return 0


def _describe(record: dict[str, Any]) -> str:
    where = f"{record['model']} on {record['task']}, seed {record['seed']}"
    if "error" in record:
        return f"{where}: failed: {record['error']} ({record['seconds']:.0f} s)"
    return f"{where}: {record['metric_name']} {record['metric']:.4g} ({record['seconds']:.0f} s)"


def _run_cells(cells: list[Any], pending: list[int], out: Any, jobs: int) -> Any:
    """(index, record) of each pending cell as it finishes: in this process with one job, else in a
    pool of ``jobs`` processes (one torch thread each)."""
    from engrammar_train import bench

    if jobs <= 1 or len(pending) <= 1:
        bench.warm_up()
        for index in pending:
            yield index, bench.run_cell(cells[index], out)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context, initializer=_one_thread) as pool:
        futures = {pool.submit(bench.run_cell, cells[index], out): index for index in pending}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _one_thread() -> None:
    import torch

    from engrammar_train import bench

    torch.set_num_threads(1)
    bench.warm_up()
