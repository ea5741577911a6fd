"""The trainer: steps a model over a task's generated batches.

Per step: draw a batch from the task's seeded generator; run the model over it in chunks of
``tbptt`` time steps (the whole sequence when unset), each chunk's loss weighted by its share of
the masked positions (the model's auxiliary losses by its share of the time steps) and
back-propagated before the state is detached (truncated backpropagation);
clip the global gradient norm; step the optimizer and the schedule. Mixed precision autocasts the
forward passes (bf16, or fp16 with a gradient scaler). The training hooks of
:mod:`engrammar.hooks` fire around backward and the optimizer step, at epoch ends (every
``eval_every`` steps, after an evaluation on fixed batches) and when checkpoints are written or read.

Checkpoints hold everything that decides what happens next — weights, optimizer and schedule state,
the gradient scaler, the random generators of data and dropout, and the hooks' state — so training
N steps, stopping, and resuming for N more gives the same weights as 2N steps straight.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pluggy
import torch
from engrammar.component import Component
from engrammar.hooks import make_plugin_manager
from engrammar.recorder import Recording, recording
from engrammar.spec import SpecError, structure, unstructure
from engrammar.state import detach_state
from engrammar.task import Task, TaskBatch

from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint, write_atomic
from .config import TrainConfig
from .evaluate import evaluate_model
from .metrics import METRICS_NAME, MetricsLog, read_metrics
from .optim import make_optimizer, make_scheduler, resolve_device
from .param_groups import SlowUpdates, optimizer_groups
from .progress import ProgressBar

__all__ = ["SPEC_NAME", "Trainer"]

SPEC_NAME = "spec.json"


class Trainer:
    """Trains ``model`` on ``task`` as ``config`` says.

    ``recipe`` and ``task_data`` (plain data describing model and task, see
    :mod:`engrammar_train.model`) go into checkpoints so that ``engrammar eval`` can rebuild the
    model; ``hooks`` are objects implementing :mod:`engrammar.hooks` (or a ready plugin manager).
    Attributes the hooks may use: ``model``, ``task``, ``config``, ``optimizer``, ``scheduler``,
    ``step`` (optimizer steps done), ``epoch``, ``device``, ``out_dir``, ``last_eval``.
    """

    def __init__(
        self,
        model: Component,
        task: Task,
        config: TrainConfig | Mapping[str, Any] | None = None,
        *,
        out_dir: str | Path | None = None,
        hooks: Iterable[object] | pluggy.PluginManager = (),
        recipe: Mapping[str, Any] | None = None,
        task_data: Mapping[str, Any] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        progress: bool = True,
    ) -> None:
        self.config = (
            config if isinstance(config, TrainConfig) else structure(dict(config or {}), TrainConfig, path="train")
        )
        cfg = self.config
        if model.in_features != task.in_features or model.out_features != task.out_features:
            raise SpecError(
                "model",
                f"reads {model.in_features} and writes {model.out_features} features; the task needs "
                f"{task.in_features} -> {task.out_features} (engrammar.train adds the read-out for you)",
            )
        self.device = resolve_device(cfg.device)
        if cfg.precision == "fp16" and self.device.type != "cuda":
            raise SpecError("train.precision", "fp16 needs a CUDA device; use bf16 on the CPU")
        self.model = model.to(self.device)
        self.task = task
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.hooks = hooks if isinstance(hooks, pluggy.PluginManager) else make_plugin_manager(hooks)
        self.recipe = dict(recipe) if recipe is not None else None
        self.task_data = dict(task_data) if task_data is not None else None
        self.optimizer = (
            optimizer
            if optimizer is not None
            else make_optimizer(optimizer_groups(self.model, cfg.param_groups, cfg.lr), cfg)
        )
        if any(group.get("update_every", 1) > 1 for group in self.optimizer.param_groups):
            self.hooks.register(SlowUpdates())
        self.scheduler = make_scheduler(self.optimizer, cfg)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        self.data_generator = torch.Generator().manual_seed(cfg.seed)
        self.progress = progress
        self.step = 0
        self.last_eval: dict[str, float] = {}
        self._shown = ""  # the progress bar's latest training figures
        self.metrics_log = MetricsLog(self.out_dir / METRICS_NAME) if self.out_dir is not None else None

    @property
    def epoch(self) -> int:
        return self.step // self.config.eval_every

    # ---- one step ------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def train_step(self) -> dict[str, Any]:
        """One optimizer step on a fresh batch. Returns the loss, gradient norm, outputs and batch."""
        cfg = self.config
        self.model.train()
        batch = self.task.sample(cfg.batch_size, self.data_generator).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        length = batch.inputs.shape[1]
        chunk = cfg.tbptt or length
        total_masked = batch.mask.sum().clamp(min=1)
        state = None
        outputs = []
        loss_value = 0.0
        reported: dict[str, float] = {}  # the components' metrics (a memory's inner loss), over the chunks
        for start in range(0, length, chunk):
            part = TaskBatch(*(t[:, start : start + chunk] for t in (batch.inputs, batch.targets, batch.mask)))
            with self._autocast(), recording(self.model) as record:
                y, state = self.model(part.inputs, state)
                share = part.mask.sum() / total_masked
                loss = self.task.loss(y, part) * share
                # Auxiliary losses (a `moe` node's load balancing) are recorded for this chunk's
                # call, already weighted (docs/protocol.md). They cover every token of the
                # chunk, masked or not, so each chunk's counts by its share of the time
                # steps: the chunks add up to the whole sequence's, and a chunk with no masked
                # position (the reading phase of `copy`) still trains the router's balance.
                auxiliary = self._auxiliary_losses(record)
                for extra in auxiliary:
                    loss = loss + extra * (part.inputs.shape[1] / length)
            for key, value in record.metrics.items():  # each a mean over the chunk's tokens
                reported[key] = reported.get(key, 0.0) + float(value) * (part.inputs.shape[1] / length)
            outputs.append(y.detach().float())
            if bool(part.mask.any()) or auxiliary:
                for extra in self.hooks.hook.before_backward(trainer=self, loss=loss):
                    loss = loss + extra
                self.scaler.scale(loss).backward()
                self.hooks.hook.after_backward(trainer=self)
            loss_value += float(loss.detach())
            state = detach_state(state)  # truncation: no gradient into earlier chunks
        self.scaler.unscale_(self.optimizer)
        parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        limit = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, limit))
        self.hooks.hook.before_optimizer_step(trainer=self, optimizer=self.optimizer)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.hooks.hook.after_optimizer_step(trainer=self, optimizer=self.optimizer)
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        return {
            "loss": loss_value,
            "grad_norm": grad_norm,
            "outputs": torch.cat(outputs, dim=1),
            "batch": batch,
            "reported": reported,
        }

    def _auxiliary_losses(self, record: Recording) -> list[torch.Tensor]:
        """The auxiliary losses the model's components reported in ``record``, already weighted."""
        return list(record.losses.values())

    # ---- evaluation --------------------------------------------------------------------------

    def evaluate(self, batches: int | None = None, seed: int | None = None) -> dict[str, float]:
        """The task's metrics averaged over fixed evaluation batches (see :func:`evaluate_model`)."""
        return evaluate_model(
            self.model,
            self.task,
            batches=batches or self.config.eval_batches,
            batch_size=self.config.batch_size,
            seed=self.config.seed if seed is None else seed,
            device=self.device,
            autocast=self._autocast(),
        )

    # ---- checkpoints -------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """Everything a resume needs, as a nested dict of tensors and plain data (hooks add theirs)."""
        rng: dict[str, Any] = {"torch": torch.get_rng_state(), "data": self.data_generator.get_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = list(torch.cuda.get_rng_state_all())
        checkpoint: dict[str, Any] = {
            "step": self.step,
            "model": dict(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "model_spec": self.recipe,
            "task": self.task_data,
            "config": unstructure(self.config),
            "metric": {"name": self.task.metric_name, "higher_is_better": self.task.higher_is_better},
            "last_eval": dict(self.last_eval),
        }
        self.hooks.hook.on_checkpoint_save(trainer=self, checkpoint=checkpoint)
        return checkpoint

    def save(self, path: str | Path | None = None) -> Path:
        """Write a checkpoint (atomically) to ``path``, by default ``out_dir/checkpoint.safetensors``."""
        if path is None:
            if self.out_dir is None:
                raise ValueError("Trainer.save needs a path when the trainer has no out_dir")
            path = self.out_dir / CHECKPOINT_NAME
        return save_checkpoint(path, self.checkpoint())

    def restore(self, checkpoint: Mapping[str, Any] | str | Path) -> None:
        """Load a checkpoint (a path or a loaded dict): weights, optimizer, schedule, scaler,
        random generators, step, and the hooks' state."""
        if not isinstance(checkpoint, Mapping):
            checkpoint = load_checkpoint(checkpoint)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None and checkpoint.get("scheduler") is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint.get("scaler") or {})
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        self.data_generator.set_state(rng["data"].cpu())
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in rng["cuda"]])
        self.step = int(checkpoint["step"])
        self.last_eval = dict(checkpoint.get("last_eval") or {})
        self.hooks.hook.on_checkpoint_load(trainer=self, checkpoint=checkpoint)

    # ---- the loop ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _determinism(self) -> Iterator[None]:
        if not self.config.deterministic:
            yield
            return
        before = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(before)

    def _log(self, record: dict[str, Any]) -> None:
        if self.metrics_log is not None:
            self.metrics_log.write(record)

    def _end_epoch(self, bar: ProgressBar, started: float) -> None:
        metrics = self.evaluate()
        self.hooks.hook.on_epoch_end(trainer=self, epoch=self.epoch - 1, metrics=metrics)
        self.last_eval = metrics
        self._log({"step": self.step, "split": "eval", **metrics, "seconds": round(time.perf_counter() - started, 3)})
        name = self.task.metric_name
        bar.log(
            f"step {self.step}/{self.config.steps}  eval loss {metrics.get('loss', float('nan')):.4f}  "
            f"{name} {metrics.get(name, float('nan')):.4g}"
        )
        bar.update(self.step, f"{self._shown}  (eval {metrics.get(name, float('nan')):.4g})")
        if self.out_dir is not None:
            self.save()

    def fit(self, until: int | None = None) -> dict[str, float]:
        """Train up to step ``until`` (default: ``config.steps``), evaluating every ``eval_every``
        steps; write a final evaluation, checkpoint and plots. Returns the last evaluation."""
        cfg = self.config
        stop = cfg.steps if until is None else min(until, cfg.steps)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            spec_data = {"model": self.recipe, "task": self.task_data, "train": unstructure(cfg)}
            write_atomic(
                self.out_dir / SPEC_NAME, lambda tmp: Path(tmp).write_text(json.dumps(spec_data, indent=2) + "\n")
            )
        name = self.task.metric_name
        started = time.perf_counter()
        window: list[float] = []
        with self._determinism(), ProgressBar(cfg.steps, self.step, self.progress) as bar:
            self.hooks.hook.on_train_start(trainer=self)
            if self.step == 0 and stop > 0:  # the untrained model's score starts the curves
                self.last_eval = self.evaluate()
                self._log({"step": 0, "split": "eval", **self.last_eval, "seconds": 0.0})
            ended_epoch = False
            while self.step < stop:
                if self.step % cfg.eval_every == 0:
                    self.hooks.hook.on_epoch_start(trainer=self, epoch=self.epoch)
                result = self.train_step()
                window.append(result["loss"])
                ended_epoch = False
                if self.step % cfg.log_every == 0 or self.step == stop:
                    batch_metrics = self.task.metrics(result["outputs"], result["batch"])
                    record = {
                        "step": self.step,
                        "split": "train",
                        **batch_metrics,
                        "loss": sum(window) / len(window),
                        "grad_norm": result["grad_norm"],
                        "lr": self.optimizer.param_groups[0]["lr"],
                        **result["reported"],
                        "seconds": round(time.perf_counter() - started, 3),
                    }
                    self._log(record)
                    window.clear()
                    self._shown = f"loss {record['loss']:.4f}  {name} {batch_metrics.get(name, float('nan')):.4g}"
                    evaluated = f"  (eval {self.last_eval.get(name, float('nan')):.4g})" if self.last_eval else ""
                    bar.update(self.step, self._shown + evaluated)
                if self.step % cfg.eval_every == 0:
                    self._end_epoch(bar, started)
                    ended_epoch = True
            if not ended_epoch:  # stopped between epoch ends (or resumed at the end): score it
                self.last_eval = self.evaluate()
                self._log(
                    {
                        "step": self.step,
                        "split": "eval",
                        **self.last_eval,
                        "seconds": round(time.perf_counter() - started, 3),
                    }
                )
                if self.out_dir is not None:
                    self.save()
            self.hooks.hook.on_train_end(trainer=self)
        if self.out_dir is not None:
            self.plot()
            self.plot_traces()
        return dict(self.last_eval)

    def plot(self) -> list[Path]:
        """``loss.png`` and ``<metric>.png`` from this run's ``metrics.jsonl``."""
        from .plots import plot_metrics

        if self.out_dir is None or not (self.out_dir / METRICS_NAME).is_file():
            return []
        title = (self.task_data or {}).get("use") or type(self.task).__name__
        return plot_metrics(read_metrics(self.out_dir / METRICS_NAME), self.out_dir, self.task.metric_name, title)

    def plot_traces(self) -> list[Path]:
        """Plots of every traced component of the model into ``out_dir/trace/``.

        One batch drawn with the run's seed goes through the model in eval mode inside a recording
        that keeps traces; every module that reported a trace and has a
        ``plot_trace(trace, out_dir, prefix=...)`` method (a DNC, an NTM) plots it, with its module
        path as prefix."""
        if self.out_dir is None:
            return []
        if not any(callable(getattr(module, "plot_trace", None)) for module in self.model.modules()):
            return []
        batch = self.task.sample(1, torch.Generator().manual_seed(self.config.seed)).to(self.device)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad(), recording(self.model, traces=True) as record:
            self.model(batch.inputs)
        self.model.train(was_training)
        written: list[Path] = []
        for name, trace in record.traces.items():
            plot = getattr(record.module(name), "plot_trace", None)
            if callable(plot):
                written.extend(plot(trace, self.out_dir / "trace", prefix=name.replace(".", "_") or "model"))
        return written

    @property
    def plots(self) -> list[Path]:
        if self.out_dir is None:
            return []
        curves = [p for p in (self.out_dir / "loss.png", self.out_dir / f"{self.task.metric_name}.png") if p.is_file()]
        return curves + sorted((self.out_dir / "trace").glob("*.png"))
