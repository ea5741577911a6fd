"""The leaderboard: every model on every task, a few seeds each, in one table — what
``engrammar bench`` runs.

A *cell* is one model trained on one task with one seed. A model is a registry name, placed in the
*standard small wiring* (:func:`standard_wiring`), or a wiring file, used as it is; the trainer
adds the task's input width and read-out (:func:`engrammar_train.model.build_for_task`). Each
finished cell is written to ``DIR/cells/<model>/<task>/seed<k>.json`` with the settings it ran
under; a rerun with the same settings reuses it, so adding a model or a seed runs only what is new.
From the cells come ``bench.csv``, ``bench.md`` and ``bench.png`` (:func:`write_reports`).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError

__all__ = [
    "CELLS_DIR",
    "SMALL_TASKS",
    "Cell",
    "Summary",
    "cell_path",
    "model_label",
    "run_cell",
    "standard_wiring",
    "stored_record",
    "summarize",
    "warm_up",
    "write_reports",
]

CELLS_DIR = "cells"

#: The task sizes the bench uses unless told otherwise (``--preset small``): short sequences and
#: small widths, so that a cell trains in seconds on a CPU.
SMALL_TASKS: dict[str, dict[str, Any]] = {
    "copy": {"bits": 4, "min_length": 1, "max_length": 5},
    "repeat_copy": {"bits": 4, "min_length": 1, "max_length": 3, "min_repeats": 1, "max_repeats": 3},
    "associative_recall": {"vocab_size": 16, "num_pairs": 4},
    "mqar": {"vocab_size": 32, "seq_len": 32, "num_pairs": 4},
    "parity": {"length": 8},
    "priority_sort": {"bits": 4, "min_length": 2, "max_length": 5},
    "antipodal": {"T": 32},
    "n_back": {"n": 2, "length": 16},
    "sine": {"length": 30},
    "xor": {"delay": 3},
    "babi_like": {"sentences": 4},
}

#: Fields of a component's spec set in the standard wiring when the spec has them, as a function of
#: the width: the widths of attention, recurrent and fast-weight memories and of addressed memories.
_SIZED_FIELDS = {
    "hidden_size": lambda width: width,
    "num_heads": lambda width: 2,
    "head_dim": lambda width: max(width // 2, 1),
    "memory_size": lambda width: 16,
    "word_size": lambda width: max(width // 4, 1),
    "num_layers": lambda width: 1,
}
#: A sliding window shorter than the bench's sequences, so that it differs from full attention.
_NAMED_FIELDS = {"sliding_window": {"window": 8}}


def standard_wiring(name: str, width: int = 32, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The standard small wiring of a registry name: a linear embedding to ``width``, the component
    on it, and a one-layer MLP over the embedding and the component's output together (a skip
    path, as in a residual block)::

        x -> embed (linear, width) -> mem (NAME) -> mix (mlp over [embed, mem]) -> read-out

    The component's width fields (``hidden_size``, ``num_heads``, ``head_dim``, ``memory_size``,
    ``word_size``, ``num_layers``) are set from ``width`` where its spec has them; ``fields`` win.
    """
    from engrammar.registry import load

    spec_cls = getattr(load(name), "spec_cls", None)
    names = {field.name for field in attrs.fields(spec_cls)} if spec_cls is not None else set()
    sized = {key: make(width) for key, make in _SIZED_FIELDS.items() if key in names}
    sized.update(_NAMED_FIELDS.get(name, {}))
    sized.update(fields or {})
    return {
        "name": name,
        "nodes": {
            "embed": {"use": "linear", "out_features": width, "in": "x"},
            "mem": {"use": name, "in": "embed", **sized},
            "mix": {"use": "mlp", "hidden_size": width, "num_layers": 1, "in": ["embed", "mem"]},
        },
        "out": "mix",
    }


def model_label(model: str) -> str:
    """A registry name as it is; a wiring file by its stem (``examples/lstm_ntm.yaml`` -> ``lstm_ntm``)."""
    from engrammar.wiring.loader import is_wiring_path

    return Path(model).stem if is_wiring_path(model) else model


@attrs.frozen
class Cell:
    """One run of the bench: ``model`` (a name or a wiring file) on ``task`` with ``seed``.
    ``task_fields`` size the task, ``model_fields`` the component of the standard wiring, ``train``
    holds the trainer's settings (steps, batch size, learning rate, evaluation period)."""

    model: str
    task: str
    seed: int
    task_fields: dict[str, Any] = attrs.field(factory=dict)
    model_fields: dict[str, Any] = attrs.field(factory=dict)
    train: dict[str, Any] = attrs.field(factory=dict)
    width: int = 32

    @property
    def label(self) -> str:
        return model_label(self.model)

    def settings(self) -> dict[str, Any]:
        """What decides the result: compared with a stored cell's before it is reused."""
        return {
            "model": self.model,
            "task": {"use": self.task, **self.task_fields},
            "model_fields": dict(self.model_fields),
            "train": dict(self.train),
            "width": self.width,
            "seed": self.seed,
        }


def cell_path(out: Path, cell: Cell) -> Path:
    return Path(out) / CELLS_DIR / cell.label / cell.task / f"seed{cell.seed}.json"


def _model_source(cell: Cell) -> Any:
    from engrammar.wiring.loader import is_wiring_path

    if is_wiring_path(cell.model):
        return cell.model
    return standard_wiring(cell.model, cell.width, cell.model_fields)


class _Curve:
    """Training hook: the task's metric at every evaluation, with its step."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.points: list[tuple[int, float]] = []

    @hookimpl
    def on_evaluate_end(self, trainer: Any, metrics: dict[str, float]) -> None:
        if self.metric in metrics:
            self.points.append((int(trainer.step), float(metrics[self.metric])))


def _state_bytes(model: Any, task: Any) -> int:
    """Bytes of the model's state per sample after one sequence of the task (caches that grow
    with the sequence are counted at the task's length)."""
    import torch
    from engrammar.state import state_nbytes

    batch = task.sample(1, torch.Generator().manual_seed(0))
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    with torch.no_grad():
        _, state = model(batch.inputs.to(device))
    return int(state_nbytes(state))


def warm_up() -> None:
    """Import what every cell uses (the trainer, Lightning Fabric, the registry), so that the first
    cell's wall time counts training only."""
    import lightning_fabric  # noqa: F401
    from engrammar.registry import components

    from . import api, trainer  # noqa: F401

    components()


def run_cell(cell: Cell, out: Path | str) -> dict[str, Any]:
    """Train one cell, write its JSON record (atomically) and return it. A failure (a bad setting,
    a non-finite loss) is recorded as the cell's ``error`` instead of a metric."""
    import torch
    from engrammar.registry import RegistryError

    from .api import train
    from .errors import TrainingError
    from .model import build_task

    path = cell_path(Path(out), cell)
    task, _ = build_task({"use": cell.task, **cell.task_fields})
    record: dict[str, Any] = {
        "model": cell.label,
        "task": cell.task,
        "seed": cell.seed,
        "metric_name": task.metric_name,
        "higher_is_better": task.higher_is_better,
        "chance": task.chance_level,
        "threshold": task.threshold,
        "settings": cell.settings(),
    }
    curve = _Curve(task.metric_name)
    started = time.perf_counter()
    try:
        result = train(
            _model_source(cell),
            task,
            seed=cell.seed,
            config=dict(cell.train),
            hooks=[curve],
            progress=False,
        )
    except (SpecError, RegistryError, TrainingError) as err:
        record["error"] = str(err).splitlines()[0]
    else:
        reached = [step for step, value in curve.points if task.solved(value)]
        record.update(
            {
                "metric": result.metric,
                "steps": result.step,
                "steps_to_threshold": reached[0] if reached else None,
                "curve": curve.points,
                "parameters": sum(p.numel() for p in result.model.parameters()),
                "state_bytes": _state_bytes(result.model, task),
            }
        )
    record["seconds"] = round(time.perf_counter() - started, 2)
    record["torch_threads"] = torch.get_num_threads()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return record


def stored_record(out: Path | str, cell: Cell) -> dict[str, Any] | None:
    """The finished record of ``cell`` in ``out``, or ``None``; a record made under other settings
    is an error (its folder belongs to another budget)."""
    path = cell_path(Path(out), cell)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged record is run again
    if record.get("settings") != json.loads(json.dumps(cell.settings())):
        raise SpecError(
            str(path),
            "was run with other settings (steps, sizes, seeds' budget); give another output folder or delete it",
        )
    return record


@attrs.frozen
class Summary:
    """One model on one task over its seeds."""

    model: str
    task: str
    metric_name: str
    higher_is_better: bool
    chance: float | None
    threshold: float | None
    values: tuple[float, ...]
    solved_seeds: int
    steps_to_threshold: float | None
    seconds: float
    parameters: int | None
    state_bytes: int | None
    errors: tuple[str, ...]

    @property
    def seeds(self) -> int:
        return len(self.values) + len(self.errors)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def spread(self) -> float:
        """The sample standard deviation over seeds (0 with one seed)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def score(self) -> float:
        """The mean metric on a common scale: 0 at the chance level, 1 at the threshold (NaN
        when the task states neither or every seed failed)."""
        if self.chance is None or self.threshold is None or not self.values or self.threshold == self.chance:
            return math.nan
        return (self.mean - self.chance) / (self.threshold - self.chance)

    @property
    def status(self) -> str:
        """``solved`` (every seed reached the threshold), ``partly`` (some did, or the mean is at
        least halfway from chance to it), ``learning`` (a tenth of the way or more), ``not
        learning`` (less), ``failed`` (no seed finished)."""
        if not self.values:
            return "failed"
        if self.solved_seeds == self.seeds:
            return "solved"
        score = self.score
        if self.solved_seeds > 0 or score >= 0.5:
            return "partly"
        return "learning" if score >= 0.1 else "not learning"


def summarize(records: Iterable[Mapping[str, Any]]) -> list[Summary]:
    """Records grouped by (model, task), in the order first seen."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["model"], record["task"]), []).append(record)
    summaries = []
    for (model, task), group in groups.items():
        done = [r for r in group if "error" not in r]
        steps = [r["steps_to_threshold"] for r in done if r.get("steps_to_threshold") is not None]
        first = group[0]
        summaries.append(
            Summary(
                model=model,
                task=task,
                metric_name=first["metric_name"],
                higher_is_better=bool(first["higher_is_better"]),
                chance=first.get("chance"),
                threshold=first.get("threshold"),
                values=tuple(float(r["metric"]) for r in done),
                solved_seeds=len(steps),
                steps_to_threshold=statistics.median(steps) if steps else None,
                seconds=statistics.fmean(float(r["seconds"]) for r in group),
                parameters=done[0]["parameters"] if done else None,
                state_bytes=done[0]["state_bytes"] if done else None,
                errors=tuple(r["error"] for r in group if "error" in r),
            )
        )
    return summaries


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}g}"


def _bytes(count: int | None) -> str:
    if count is None:
        return "—"
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


CSV_COLUMNS = (
    "model",
    "task",
    "metric",
    "higher_is_better",
    "mean",
    "spread",
    "seeds",
    "chance",
    "threshold",
    "status",
    "solved_seeds",
    "steps_to_threshold",
    "seconds",
    "parameters",
    "state_bytes",
    "errors",
)


def _csv_row(summary: Summary) -> dict[str, Any]:
    return {
        "model": summary.model,
        "task": summary.task,
        "metric": summary.metric_name,
        "higher_is_better": summary.higher_is_better,
        "mean": summary.mean,
        "spread": summary.spread,
        "seeds": summary.seeds,
        "chance": summary.chance,
        "threshold": summary.threshold,
        "status": summary.status,
        "solved_seeds": summary.solved_seeds,
        "steps_to_threshold": summary.steps_to_threshold,
        "seconds": round(summary.seconds, 2),
        "parameters": summary.parameters,
        "state_bytes": summary.state_bytes,
        "errors": " | ".join(summary.errors),
    }


def markdown_table(summaries: Sequence[Summary], models: Sequence[str], tasks: Sequence[str]) -> str:
    """The matrix (models x tasks: mean ± spread and status) and one detail row per cell."""
    by_cell = {(s.model, s.task): s for s in summaries}
    metric_of = {s.task: s for s in summaries}
    head = [
        "model",
        *(
            f"{t} ({metric_of[t].metric_name} {'↑' if metric_of[t].higher_is_better else '↓'})"
            for t in tasks
            if t in metric_of
        ),
    ]
    shown_tasks = [t for t in tasks if t in metric_of]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for model in models:
        cells = []
        for task in shown_tasks:
            summary = by_cell.get((model, task))
            if summary is None:
                cells.append("not run")
            elif not summary.values:
                cells.append("failed")
            else:
                cells.append(f"{_number(summary.mean)} ± {_number(summary.spread, 2)} {_MARK[summary.status]}")
        lines.append("| " + " | ".join([model, *cells]) + " |")
    lines.append("")
    lines.append(
        "Marks: ✓ solved (every seed reached the threshold), ◐ partly, · learning (a tenth of the way from chance "
        "to the threshold or more), ✗ not learning, ! failed."
    )
    lines.append("")
    lines.append(
        "| model | task | metric | mean ± spread | chance | threshold | status | steps to threshold (seeds) "
        "| wall s | parameters | state bytes/sample |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model in models:
        for task in shown_tasks:
            summary = by_cell.get((model, task))
            if summary is None:
                continue
            reached = f"{_number(summary.steps_to_threshold)} ({summary.solved_seeds}/{summary.seeds})"
            value = f"{_number(summary.mean)} ± {_number(summary.spread, 2)}" if summary.values else "—"
            status = summary.status + (f": {summary.errors[0]}" if summary.errors else "")
            lines.append(
                f"| {model} | {task} | {summary.metric_name} | {value} | {_number(summary.chance)} "
                f"| {_number(summary.threshold)} | {status} | {reached} | {summary.seconds:.1f} "
                f"| {summary.parameters if summary.parameters is not None else '—'} | {_bytes(summary.state_bytes)} |"
            )
    return "\n".join(lines) + "\n"


_MARK = {"solved": "✓", "partly": "◐", "learning": "·", "not learning": "✗", "failed": "!"}


def heatmap(summaries: Sequence[Summary], models: Sequence[str], tasks: Sequence[str], path: Path) -> Path:
    """A PNG of the matrix: colour = the score (0 at chance, 1 at the threshold, clipped to
    [0, 1]), text = the mean metric; grey where a cell failed or was not run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    by_cell = {(s.model, s.task): s for s in summaries}
    scores = np.full((len(models), len(tasks)), np.nan)
    fig, ax = plt.subplots(figsize=(1.1 * len(tasks) + 2.5, 0.45 * len(models) + 1.8))
    for i, model in enumerate(models):
        for j, task in enumerate(tasks):
            summary = by_cell.get((model, task))
            if summary is None or not summary.values:
                ax.text(j, i, "—" if summary is None else "failed", ha="center", va="center", fontsize=7)
                continue
            scores[i, j] = min(max(summary.score, 0.0), 1.0) if not math.isnan(summary.score) else np.nan
            dark = not np.isnan(scores[i, j]) and scores[i, j] < 0.5
            ax.text(
                j, i, _number(summary.mean, 2), ha="center", va="center", fontsize=7, color="white" if dark else "black"
            )
    cmap = matplotlib.colormaps["viridis"]
    cmap = cmap.with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(scores), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(tasks)), tasks, rotation=35, ha="right")
    ax.set_yticks(range(len(models)), models)
    fig.colorbar(image, ax=ax, label="0 = chance, 1 = threshold")
    ax.set_title("final metric (mean over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(
    out: Path | str, records: Iterable[Mapping[str, Any]], models: Sequence[str], tasks: Sequence[str]
) -> dict[str, Path]:
    """``bench.csv``, ``bench.md`` and ``bench.png`` in ``out`` from the cell records."""
    import csv

    out = Path(out)
    summaries = summarize(records)
    labels = [model_label(m) for m in models]
    paths = {"csv": out / "bench.csv", "markdown": out / "bench.md", "heatmap": out / "bench.png"}
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for summary in summaries:
            writer.writerow(_csv_row(summary))
    paths["markdown"].write_text(markdown_table(summaries, labels, tasks), encoding="utf-8")
    heatmap(summaries, labels, list(tasks), paths["heatmap"])
    return paths
