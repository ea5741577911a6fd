"""The trainer: steps a model over a task's generated batches or the user's data, on Lightning Fabric.

Per optimizer step: take ``accumulate`` batches (this process's share of each global batch); run
the model over each in chunks of ``tbptt`` time steps (the whole sequence when unset), each chunk's
loss weighted by its share of the masked positions of the whole step, over all processes (the
model's auxiliary losses by its share of the time steps), and back-propagated before the state is
detached (truncated backpropagation); with several processes, sum the gradients (one all-reduce);
clip the global gradient norm; step the optimizer and the schedule. The training hooks of
:mod:`engrammar.hooks` fire around backward and the optimizer step, at epoch ends (after an
evaluation) and when checkpoints are written or read; tricks and loggers are such hooks.

Fabric supplies the devices, the precision (autocast for mixed precision, a gradient scaler for
16-mixed, converted parameters for the ``*-true`` precisions) and the processes (DDP on CPUs or
GPUs, FSDP on GPUs). The loop is the same for one process and for many: every process draws the
same global batch and takes its slice, and the gradients are summed rather than averaged, so W
processes train exactly as one process would on the same global batch. Metrics, checkpoints and
plots are written by the first process only.

Checkpoints hold everything that decides what happens next — weights, optimizer and schedule state,
the gradient scaler, the random generators of data and dropout, the position in the data, the best
evaluation so far, and the hooks' state — so training N steps, stopping, and resuming for N more
gives the same weights as 2N steps straight, on any number of processes.
"""

from __future__ import annotations

import contextlib
import copy
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
from .config import TrainConfig, migrate_config
from .data import GeneratedBatches, LoaderBatches, TensorBatches
from .devices import input_dtype, make_fabric, shards_gradients
from .errors import CheckpointWriteError, NonFiniteLossError
from .extensions import load_logger, load_trick, register_checked
from .loggers import JsonLinesLogger, PlotLogger
from .metrics import METRICS_NAME, ComponentMetrics
from .monitor import Monitor
from .optim import make_optimizer, make_scheduler
from .param_groups import SlowUpdates, assign_parameters, split_param_groups
from .progress import ProgressBar
from .scoring import evaluate_batches, evaluate_model, to_device

__all__ = ["BEST_NAME", "SPEC_NAME", "Trainer"]

SPEC_NAME = "spec.json"
BEST_NAME = "best.safetensors"

#: What a run trains on: a task's generated batches, or the user's tensors or DataLoader batches.
Source = GeneratedBatches | TensorBatches | LoaderBatches


class Trainer:
    """Trains ``model`` on ``task`` as ``config`` says.

    ``task`` gives the loss and metrics, and by default the data (its seeded generator); ``data``
    (a :class:`TensorBatches` or :class:`LoaderBatches`) and ``val`` (a TaskBatch of validation
    examples, or validation batches) train on the user's data instead. ``recipe`` and
    ``task_data`` (plain data describing model and task, see :mod:`engrammar_train.model`) go into
    checkpoints so that ``engrammar eval`` can rebuild the model; ``hooks`` are objects implementing
    :mod:`engrammar.hooks` (or a ready plugin manager); the config's ``tricks`` and ``loggers`` are
    added to them. ``fabric``: a launched Fabric (default: one made from the config).

    Attributes the hooks may use: ``model`` (the module itself, on its device), ``task``,
    ``config``, ``optimizer``, ``scheduler``, ``step`` (optimizer steps done), ``epoch``,
    ``device``, ``out_dir``, ``last_eval``, ``fabric``, ``is_main`` (the first process).
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
        data: TensorBatches | LoaderBatches | None = None,
        val: TaskBatch | LoaderBatches | None = None,
        fabric: Any = None,
    ) -> None:
        if isinstance(config, TrainConfig):
            self.config = config
        else:
            self.config = structure(migrate_config(config or {}), TrainConfig, path="train")
        cfg = self.config
        if model.in_features != task.in_features or model.out_features != task.out_features:
            raise SpecError(
                "model",
                f"reads {model.in_features} and writes {model.out_features} features; the task needs "
                f"{task.in_features} -> {task.out_features} (engrammar_train.train adds the read-out for you)",
            )
        self.fabric = fabric if fabric is not None else make_fabric(cfg)
        if not getattr(self.fabric, "_launched", True):
            self.fabric.launch()  # several processes: the script is started again for each
        self.world_size, self.rank = self.fabric.world_size, self.fabric.global_rank
        self.is_main = self.rank == 0
        if data is None and cfg.batch_size < self.world_size:
            raise SpecError(
                "train.batch_size", f"{cfg.batch_size} sequences cannot be shared by {self.world_size} processes"
            )
        self.task = task
        self.device = self.fabric.device
        self.input_dtype = input_dtype(cfg)
        self.module = self.fabric.setup_module(model)  # on its device, converted, wrapped for DDP/FSDP
        self.model: Component = self.module.module  # the component itself: what the loop calls
        self._sharded = shards_gradients(cfg)
        self._forward = self.module if self._sharded else self.model
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.recipe = dict(recipe) if recipe is not None else None
        # The model as built; ``recipe`` follows the model when a trick grows it during training.
        self.initial_recipe = copy.deepcopy(self.recipe)
        self.task_data = dict(task_data) if task_data is not None else None
        self.progress = progress and self.is_main
        self.hooks = hooks if isinstance(hooks, pluggy.PluginManager) else make_plugin_manager(hooks)
        self._add_extensions()  # before the optimizer: a trick may supply it
        raw_optimizer = optimizer if optimizer is not None else self._make_optimizer()
        self.slow_updates = self._param_groups(raw_optimizer)
        self.optimizer = self.fabric.setup_optimizers(raw_optimizer)
        if isinstance(data, TensorBatches):
            data.rank, data.world_size = self.rank, self.world_size
        for loader_batches in (data, val):
            if isinstance(loader_batches, LoaderBatches) and self.world_size > 1:
                # Each process reads its own share of the DataLoader, through Fabric's sampler.
                loader_batches.loader = self.fabric.setup_dataloaders(loader_batches.loader, move_to_device=False)
        self.source: Source = (
            data if data is not None else GeneratedBatches(task, cfg.batch_size, cfg.seed, self.rank, self.world_size)
        )
        self.val = val
        self.steps_per_epoch = (
            cfg.eval_every
            if isinstance(self.source, GeneratedBatches)
            else math.ceil(len(self.source) / cfg.accumulate)
        )
        if self.steps_per_epoch == 0:
            raise SpecError("data", "the training data yields no batch (an empty dataset or DataLoader)")
        self.total_steps = self._total_steps()
        self.scheduler = make_scheduler(raw_optimizer, cfg, self.total_steps)
        metric = cfg.monitor or task.metric_name
        mode = cfg.monitor_mode
        if mode == "auto":
            mode = "max" if (metric == task.metric_name and task.higher_is_better) or metric == "accuracy" else "min"
        self.monitor = Monitor(metric, mode, cfg.patience, cfg.min_delta)
        self.step = 0
        self.epoch = 0
        self.batches_done = 0  # of the current epoch (the user's data)
        self.last_eval: dict[str, float] = {}
        self.last_checkpoint: tuple[Path, int] | None = None
        self.stopped_early = False
        self._iterator: Iterator[tuple[TaskBatch, int | None]] | None = None
        self._shown = ""  # the progress bar's latest training figures

    # ---- set-up ----------------------------------------------------------------------------------

    def _total_steps(self) -> int:
        cfg = self.config
        if cfg.steps is not None:
            return cfg.steps
        if cfg.epochs is not None:
            return cfg.epochs * self.steps_per_epoch
        return 1000 if isinstance(self.source, GeneratedBatches) else 10 * self.steps_per_epoch

    def _add_extensions(self) -> None:
        for index, entry in enumerate(self.config.tricks):
            path = f"train.tricks[{index}]"
            register_checked(self.hooks, load_trick(entry, path), f"{path}")
        if not self.is_main:
            return  # loggers write: the first process only
        builtin: list[object] = [JsonLinesLogger(), PlotLogger()] if self.out_dir is not None else []
        for index, logger in enumerate(builtin):
            register_checked(self.hooks, logger, f"logger:{type(logger).__name__}#{index}")
        for index, entry in enumerate(self.config.loggers):
            path = f"train.loggers[{index}]"
            register_checked(self.hooks, load_logger(entry, path), path)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer a trick supplies (``make_optimizer`` hook), else the configured one."""
        parameters = list(self.model.parameters())
        offered = self.hooks.hook.make_optimizer(trainer=self, parameters=parameters)
        if len(offered) > 1:
            raise SpecError("train.tricks", f"{len(offered)} tricks each supply the optimizer; enable at most one")
        return offered[0] if offered else make_optimizer(parameters, self.config)

    def _param_groups(self, optimizer: torch.optim.Optimizer) -> SlowUpdates:
        """Cut ``train.param_groups`` out of the optimizer's groups (see :mod:`.param_groups`)."""
        groups = self.config.param_groups
        if groups and self._sharded:
            raise SpecError("train.param_groups", "need a strategy that keeps whole parameters (not fsdp)")
        assigned = assign_parameters(self.model, groups)
        if groups:
            split_param_groups(optimizer, self.model, groups, assigned)
        return SlowUpdates(groups, assigned)

    def add_extension(self, extension: object, name: str) -> None:
        """Register a trick or logger object (checked like the configured ones)."""
        register_checked(self.hooks, extension, name)

    def describe(self) -> dict[str, Any]:
        """The run as plain data: model, task and settings (``spec.json``, a logger's parameters)."""
        return {"model": self.recipe, "task": self.task_data, "train": unstructure(self.config)}

    # ---- one step ------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        return self.fabric.autocast()  # type: ignore[no-any-return]

    def _next_batches(self) -> list[tuple[TaskBatch, int | None]]:
        """The batches of the next optimizer step (fewer than ``accumulate`` at an epoch's end)."""
        if isinstance(self.source, GeneratedBatches):
            return list(self.source.batches(self.config.accumulate))
        taken: list[tuple[TaskBatch, int | None]] = []
        while len(taken) < self.config.accumulate and self.batches_done < len(self.source):
            if self._iterator is None:
                self._iterator = self.source.epoch(self.epoch, start=self.batches_done)
            item = next(self._iterator, None)
            if item is None:
                break
            taken.append(item)
            self.batches_done += 1
        return taken

    def train_step(self) -> dict[str, Any]:
        """One optimizer step on the next batches. Returns the loss (mean over the step's masked
        positions, plus auxiliary terms), the gradient norm before clipping, and the last batch
        with the model's outputs on it (this process's share)."""
        items = self._next_batches()
        if not items:
            raise SpecError("data", "the training data ran out of batches (an empty DataLoader?)")
        return self._optimize(items)

    def _optimize(self, items: list[tuple[TaskBatch, int | None]]) -> dict[str, Any]:
        cfg = self.config
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        counts = [count for _, count in items]
        if all(count is not None for count in counts):
            total = max(sum(int(c) for c in counts if c is not None), 1)
        else:  # DataLoader shares: count the masked positions over all processes
            local = torch.tensor(float(sum(int(b.mask.sum()) for b, _ in items)), device=self.device)
            total = max(int(self._all_reduce(local).item()), 1)
        # Extra terms (auxiliary losses, hook terms) are batch means: average them over the
        # step's batches and processes; the sharded strategy averages gradients, so scale it back.
        terms_share = 1.0 / (len(items) * self.world_size)
        loss_scale = self.world_size if self._sharded else 1
        loss_value = 0.0
        outputs = None
        batch = items[-1][0]
        backward_passes = self._backward_passes(items)
        passes_done = 0
        reported = ComponentMetrics()
        for batch, _ in items:
            batch = to_device(batch, self.device, self.input_dtype)
            length = batch.inputs.shape[1]
            chunk = cfg.tbptt or length
            state = None
            parts = []
            for start in range(0, length, chunk):
                part = TaskBatch(*(t[:, start : start + chunk] for t in (batch.inputs, batch.targets, batch.mask)))
                with self._autocast(), recording(self.model) as record:
                    y, state = self._forward(part.inputs, state)
                    share = part.mask.sum() / total
                    loss = self.task.loss(y, part) * share
                    # Auxiliary losses (a `moe` node's load balancing) are recorded for this chunk's
                    # call, already weighted (docs/protocol.md). They cover every token of the
                    # chunk, masked or not, so each chunk's counts by its share of the time
                    # steps: the chunks add up to the whole sequence's, and a chunk with no masked
                    # position (the reading phase of `copy`) still trains the router's balance.
                    auxiliary = self._auxiliary_losses(record)
                    for extra in auxiliary:
                        loss = loss + extra * (part.inputs.shape[1] / length) * terms_share
                reported.add(record.metrics, part.inputs.shape[1])
                parts.append(y.detach().float())
                if self._sharded or bool(part.mask.any()) or auxiliary:
                    for extra in self.hooks.hook.before_backward(trainer=self, loss=loss):
                        loss = loss + extra * terms_share
                    passes_done += 1
                    # Sharded gradients synchronise in the step's last backward pass only.
                    last = passes_done == backward_passes
                    with self.fabric.no_backward_sync(self.module, enabled=self._sharded and not last):
                        self.fabric.backward(loss * loss_scale)
                loss_value += float(loss.detach())
                state = detach_state(state)  # truncation: no gradient into earlier chunks
            outputs = torch.cat(parts, dim=1)
        loss_value = self._sum_over_processes(loss_value)
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(loss_value)
        self.hooks.hook.after_backward(trainer=self)
        limit = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = self.fabric.clip_gradients(self.module, self.optimizer, max_norm=limit, error_if_nonfinite=False)
        if self.slow_updates:
            self.slow_updates.prepare(self.model, self.step + 1)
        self.hooks.hook.before_optimizer_step(trainer=self, optimizer=self.optimizer)
        self.optimizer.step()
        self.hooks.hook.after_optimizer_step(trainer=self, optimizer=self.optimizer)
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        if isinstance(self.source, GeneratedBatches):
            self.epoch = self.step // cfg.eval_every
        return {
            "loss": loss_value,
            "grad_norm": float(grad_norm),
            "outputs": outputs,
            "batch": batch,
            "components": reported.means(),
        }

    def _backward_passes(self, items: list[tuple[TaskBatch, int | None]]) -> int:
        # The sharded strategy runs every chunk's backward pass (so that its last one syncs).
        chunk = self.config.tbptt
        return sum(math.ceil(b.inputs.shape[1] / (chunk or b.inputs.shape[1])) for b, _ in items)

    def _all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return tensor
        return self.fabric.all_reduce(tensor, reduce_op="sum")  # type: ignore[no-any-return]

    def _sum_over_processes(self, loss_value: float) -> float:
        """Sum the step's gradients (unless the strategy did) and its loss over the processes, in
        one all-reduce; returns the loss of the whole step."""
        if self.world_size == 1:
            return loss_value
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        if self._sharded:
            return float(self._all_reduce(torch.tensor(loss_value, device=self.device, dtype=torch.float64)))
        dtype = parameters[0].dtype if parameters else torch.float32
        pieces = [
            p.grad.reshape(-1).to(dtype) if p.grad is not None else p.new_zeros(p.numel(), dtype=dtype)
            for p in parameters
        ]
        present = [1.0 if p.grad is not None else 0.0 for p in parameters]
        pieces.append(torch.tensor([*present, loss_value], dtype=dtype, device=self.device))
        summed = self._all_reduce(torch.cat(pieces))
        offset = 0
        for index, param in enumerate(parameters):
            size = param.numel()
            if float(summed[-len(parameters) - 1 + index]) > 0:  # some process has a gradient here
                param.grad = summed[offset : offset + size].view_as(param).to(param.dtype).clone()
            offset += size
        return float(summed[-1])

    def _auxiliary_losses(self, record: Recording) -> list[torch.Tensor]:
        """The auxiliary losses the model's components reported in ``record``, already weighted."""
        return list(record.losses.values())

    # ---- evaluation --------------------------------------------------------------------------

    def evaluate(self, batches: int | None = None, seed: int | None = None) -> dict[str, float]:
        """The task's metrics: on the validation data when there is some, else averaged over fixed
        evaluation batches of the task (see :func:`evaluate_model`). Every process evaluates the
        same data, so every process takes the same decisions from the result. Extensions may put
        other weights in place for it (``on_evaluate_start`` / ``on_evaluate_end``)."""
        self.hooks.hook.on_evaluate_start(trainer=self)
        metrics: dict[str, float] = {}
        try:
            metrics = self._evaluate(batches, seed)
        finally:
            self.hooks.hook.on_evaluate_end(trainer=self, metrics=metrics)
        return metrics

    def _evaluate(self, batches: int | None, seed: int | None) -> dict[str, float]:
        if not isinstance(self.source, GeneratedBatches):
            # Validation data, else the training data. Tensors are scored whole on every process; a
            # DataLoader's shares are scored where they are read and the sums added up.
            data = self.val if self.val is not None else self.source
            if isinstance(data, TensorBatches):
                data = data.data
            if isinstance(data, TaskBatch):
                size = self.config.batch_size
                batches: Iterable[TaskBatch] = [
                    TaskBatch(data.inputs[i : i + size], data.targets[i : i + size], data.mask[i : i + size])
                    for i in range(0, len(data.inputs), size)
                ]
                reduce = None
            else:
                batches, reduce = (batch for batch, _ in data.epoch(0)), self._all_reduce
            return evaluate_batches(
                self._forward,
                self.task,
                batches,
                device=self.device,
                autocast=self._autocast,
                dtype=self.input_dtype,
                reduce=reduce if self.world_size > 1 else None,
            )
        return evaluate_model(
            self._forward,
            self.task,
            batches=batches or self.config.eval_batches,
            batch_size=self.config.batch_size,
            seed=self.config.seed if seed is None else seed,
            device=self.device,
            autocast=self._autocast(),
            dtype=self.input_dtype,
        )

    # ---- checkpoints -------------------------------------------------------------------------

    def _model_state(self) -> dict[str, torch.Tensor]:
        if self._sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            return dict(get_model_state_dict(self.module._forward_module, options=options))
        return dict(self.model.state_dict())

    def _optimizer_state(self) -> dict[str, Any]:
        if self._sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            return dict(
                get_optimizer_state_dict(self.module._forward_module, self.optimizer.optimizer, options=options)
            )
        return dict(self.optimizer.state_dict())

    def checkpoint(self) -> dict[str, Any]:
        """Everything a resume needs, as a nested dict of tensors and plain data (hooks add theirs)."""
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if isinstance(self.source, GeneratedBatches):
            rng["data"] = self.source.state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = list(torch.cuda.get_rng_state_all())
        checkpoint: dict[str, Any] = {
            "step": self.step,
            "epoch": self.epoch,
            "batches_done": self.batches_done,
            "world_size": self.world_size,
            "total_steps": self.total_steps,
            "model": self._model_state(),
            "optimizer": self._optimizer_state(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.fabric.strategy.precision.state_dict(),
            "rng": rng,
            "model_spec": self.recipe,
            "initial_model_spec": self.initial_recipe,
            "task": self.task_data,
            "config": unstructure(self.config),
            "metric": {"name": self.task.metric_name, "higher_is_better": self.task.higher_is_better},
            "last_eval": dict(self.last_eval),
            "monitor": self.monitor.state(),
        }
        if self.slow_updates:
            checkpoint["slow_gradients"] = self.slow_updates.state()
        self.hooks.hook.on_checkpoint_save(trainer=self, checkpoint=checkpoint)
        return checkpoint

    def save(self, path: str | Path | None = None) -> Path:
        """Write a checkpoint (atomically, by the first process) to ``path``, by default
        ``out_dir/checkpoint.safetensors``. A failed write (a full disk) keeps the previous file
        intact and raises :class:`CheckpointWriteError` on every process."""
        if path is None:
            if self.out_dir is None:
                raise ValueError("Trainer.save needs a path when the trainer has no out_dir")
            path = self.out_dir / CHECKPOINT_NAME
        path = Path(path)
        checkpoint = self.checkpoint()  # every process: the sharded strategy gathers here
        failure = ""
        if self.is_main:
            try:
                save_checkpoint(path, checkpoint)
            except OSError as err:
                failure = err.strerror or str(err)
        if self.world_size > 1:
            failure = self.fabric.broadcast(failure, src=0)
        if failure:
            kept = (
                f"the checkpoint of step {self.last_checkpoint[1]} there is intact"
                if self.last_checkpoint is not None and self.last_checkpoint[0] == path
                else "no earlier checkpoint was overwritten"
            )
            raise CheckpointWriteError(
                f"{path}: could not write the checkpoint of step {self.step} ({failure}); {kept}"
            )
        if path.name != BEST_NAME:
            self.last_checkpoint = (path, self.step)
        return path

    def restore(self, checkpoint: Mapping[str, Any] | str | Path) -> None:
        """Load a checkpoint (a path or a loaded dict), written by any number of processes: weights,
        optimizer, schedule, scaler, random generators, position in the data, monitor, and the
        hooks' state."""
        if not isinstance(checkpoint, Mapping):
            path = Path(checkpoint)
            checkpoint = load_checkpoint(path)
            self.last_checkpoint = (path / CHECKPOINT_NAME if path.is_dir() else path, int(checkpoint["step"]))
        # An extension that changed the model's structure (neurogenesis) makes it match first.
        self.hooks.hook.before_checkpoint_restore(trainer=self, checkpoint=checkpoint)
        if self._sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            options = StateDictOptions(full_state_dict=True)
            set_state_dict(
                self.module._forward_module,
                self.optimizer.optimizer,
                model_state_dict=checkpoint["model"],
                optim_state_dict=checkpoint["optimizer"],
                options=options,
            )
        else:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None and checkpoint.get("scheduler") is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint.get("scaler"):
            self.fabric.strategy.precision.load_state_dict(checkpoint["scaler"])
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        if isinstance(self.source, GeneratedBatches):
            self.source.load_state(rng["data"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in rng["cuda"]])
        self.step = int(checkpoint["step"])
        self.epoch = int(checkpoint.get("epoch", self.step // self.config.eval_every))
        self.batches_done = int(checkpoint.get("batches_done", 0))
        self._iterator = None
        self.last_eval = dict(checkpoint.get("last_eval") or {})
        self.monitor.load_state(dict(checkpoint.get("monitor") or {}))
        if self.slow_updates:
            self.slow_updates.load_state(dict(checkpoint.get("slow_gradients") or {}), self.device)
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

    def log(self, record: dict[str, Any]) -> None:
        """Hand a metrics record to the loggers (the first process only)."""
        if self.is_main:
            self.hooks.hook.on_log(trainer=self, record=record)

    def _epoch_finished(self) -> bool:
        if isinstance(self.source, GeneratedBatches):
            return self.step % self.config.eval_every == 0
        return self.batches_done >= len(self.source)

    def _end_epoch(self, bar: ProgressBar, started: float) -> None:
        metrics = self.evaluate()
        self.hooks.hook.on_epoch_end(
            trainer=self, epoch=self.epoch - 1 if self._generated else self.epoch, metrics=metrics
        )
        self.last_eval = metrics
        if not self._generated:
            self.epoch += 1
            self.batches_done = 0
            self._iterator = None
        self.log({"step": self.step, "split": "eval", **metrics, "seconds": round(time.perf_counter() - started, 3)})
        name = self.task.metric_name
        bar.log(
            f"step {self.step}/{self.total_steps}  eval loss {metrics.get('loss', float('nan')):.4f}  "
            f"{name} {metrics.get(name, float('nan')):.4g}"
        )
        bar.update(self.step, f"{self._shown}  (eval {metrics.get(name, float('nan')):.4g})")
        improved = self.monitor.update(metrics, self.step) if self.monitor.metric in metrics else False
        if self.out_dir is not None:
            self.save()
            if improved:
                self.save(self.out_dir / BEST_NAME)
        if self.monitor.should_stop:
            self.stopped_early = True
            bar.log(
                f"stopping early: {self.monitor.metric} has not improved for {self.monitor.since_best} "
                f"evaluations (best {self.monitor.best:.4g} at step {self.monitor.best_step})"
            )

    @property
    def _generated(self) -> bool:
        return isinstance(self.source, GeneratedBatches)

    def fit(self, until: int | None = None) -> dict[str, float]:
        """Train up to step ``until`` (default: the run's last), evaluating at every epoch's end
        and stopping early when the monitor says so; write a final evaluation, checkpoint and
        plots. Returns the last evaluation."""
        stop = self.total_steps if until is None else min(until, self.total_steps)
        if self.out_dir is not None and self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self.describe(), indent=2) + "\n"
            write_atomic(self.out_dir / SPEC_NAME, lambda tmp: Path(tmp).write_text(text))
        name = self.task.metric_name
        started = time.perf_counter()
        window: list[float] = []
        components = ComponentMetrics()
        with self._determinism(), ProgressBar(self.total_steps, self.step, self.progress) as bar:
            self.hooks.hook.on_train_start(trainer=self)
            if self.step == 0 and stop > 0:  # the untrained model's score starts the curves
                self.last_eval = self.evaluate()
                self.log({"step": 0, "split": "eval", **self.last_eval, "seconds": 0.0})
            ended_epoch = False
            while self.step < stop and not self.stopped_early:
                if self._epoch_starts():
                    self.hooks.hook.on_epoch_start(trainer=self, epoch=self.epoch)
                try:
                    result = self.train_step()
                except NonFiniteLossError as err:
                    raise NonFiniteLossError(self._non_finite_message(err.args[0])) from None
                window.append(result["loss"])
                components.add(result["components"], 1.0)
                ended_epoch = False
                if self.step % self.config.log_every == 0 or self.step == stop:
                    batch_metrics = self.task.metrics(result["outputs"], result["batch"])
                    record = {
                        "step": self.step,
                        "split": "train",
                        **batch_metrics,
                        "loss": sum(window) / len(window),
                        "grad_norm": result["grad_norm"],
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "seconds": round(time.perf_counter() - started, 3),
                        **components.means(),
                    }
                    self.log(record)
                    window.clear()
                    components = ComponentMetrics()
                    self._shown = f"loss {record['loss']:.4f}  {name} {batch_metrics.get(name, float('nan')):.4g}"
                    evaluated = f"  (eval {self.last_eval.get(name, float('nan')):.4g})" if self.last_eval else ""
                    bar.update(self.step, self._shown + evaluated)
                if self._epoch_finished():
                    self._end_epoch(bar, started)
                    ended_epoch = True
            if not ended_epoch:  # stopped between epoch ends (or resumed at the end): score it
                self.last_eval = self.evaluate()
                seconds = round(time.perf_counter() - started, 3)
                self.log({"step": self.step, "split": "eval", **self.last_eval, "seconds": seconds})
                if self.out_dir is not None:
                    self.save()
            self.hooks.hook.on_train_end(trainer=self)
        return dict(self.last_eval)

    def _epoch_starts(self) -> bool:
        if self._generated:
            return self.step % self.config.eval_every == 0
        return self.batches_done == 0

    def _non_finite_message(self, value: float) -> str:
        kept = (
            f"the last good checkpoint is {self.last_checkpoint[0]} (step {self.last_checkpoint[1]})"
            if self.last_checkpoint is not None
            else "no checkpoint had been written yet"
        )
        return f"the loss is {value} at step {self.step + 1}; training stopped before applying it, and {kept}"

    def plot(self) -> list[Path]:
        """``loss.png`` and ``<metric>.png`` from this run's ``metrics.jsonl``."""
        from .metrics import read_metrics
        from .plots import plot_metrics

        if self.out_dir is None or not (self.out_dir / METRICS_NAME).is_file():
            return []
        title = (self.task_data or {}).get("use") or type(self.task).__name__
        return plot_metrics(read_metrics(self.out_dir / METRICS_NAME), self.out_dir, self.task.metric_name, title)

    def _trace_inputs(self) -> torch.Tensor:
        """One sequence for the trace plots: a task batch drawn with the run's seed, or the first
        validation (else training) example of the user's data."""
        if self._generated:
            batch = self.task.sample(1, torch.Generator().manual_seed(self.config.seed))
        elif isinstance(self.val, TaskBatch):
            batch = self.val
        elif isinstance(self.source, TensorBatches):
            batch = self.source.data
        else:
            batch = next(iter(self.source.epoch(0)))[0]  # type: ignore[union-attr]
        return to_device(batch, self.device, self.input_dtype).inputs[:1]

    def plot_traces(self) -> list[Path]:
        """Plots of every traced component of the model into ``out_dir/trace/``.

        One sequence (see :meth:`_trace_inputs`) goes through the model in eval mode inside a
        recording that keeps traces; every module that reported a trace and has a
        ``plot_trace(trace, out_dir, prefix=...)`` method (a DNC, an NTM) plots it, with its module
        path as prefix."""
        if self.out_dir is None:
            return []
        if not any(callable(getattr(module, "plot_trace", None)) for module in self.model.modules()):
            return []
        inputs = self._trace_inputs()
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad(), recording(self.model, traces=True) as record:
            self._forward(inputs)
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
        names = dict.fromkeys(("loss.png", f"{self.task.metric_name}.png", "components.png"))
        curves = [self.out_dir / name for name in names if (self.out_dir / name).is_file()]
        return curves + sorted((self.out_dir / "trace").glob("*.png"))
