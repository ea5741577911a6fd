"""``run_full_audit``: the initialization, gradient flow, data loader and memory audits of one
model and its data, with one list of recommendations.

    report = run_full_audit(model, dataloader, device)            # prints the whole report
    report = run_full_audit(model, dataloader, device, sample_batch=(x, y), loss_fn=my_loss)

The model is fed batches as the loader gives them: ``(inputs, targets)`` pairs, mappings with
``inputs``/``targets`` (or ``x``/``y``), or objects with ``.inputs``/``.targets`` (a task's
batches). A model that returns ``(output, state)`` (every engrammar component) is read at its
output. The loss is ``loss_fn(output, batch)`` when given; otherwise cross-entropy for integer
targets (logits on the last dimension) and mean squared error for float ones.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

import attrs
import torch
from torch import Tensor, nn

from .dataloader import DataLoaderAuditor, resident_memory_mb
from .gradient_flow import GradientFlowAuditor
from .initialization import InitializationAuditor
from .report import RULE, emit, heading, recommendations

__all__ = ["FullAudit", "run_full_audit", "split_batch"]


@attrs.frozen
class FullAudit:
    """The auditors after their runs, the step time, the memory figures and the recommendations."""

    initialization: InitializationAuditor
    gradient_flow: GradientFlowAuditor
    dataloader: DataLoaderAuditor
    step_ms: float
    memory: dict[str, float]
    recommendations: list[str]

    def report_lines(self) -> list[str]:
        lines = heading("COMPLETE PERFORMANCE AUDIT")
        lines += self.initialization.report_lines()
        lines += self.gradient_flow.report_lines()
        lines += self.dataloader.report_lines()
        lines += heading("MEMORY USAGE")
        lines += [f"{name}: {value:.2f} MB" for name, value in self.memory.items()]
        lines += recommendations(
            self.recommendations, "No problem found: initialization, gradients and data loading look healthy."
        )
        return [*lines, "", RULE, "AUDIT COMPLETE", RULE]

    def print_report(self, file: TextIO | None = None) -> None:
        emit(self.report_lines(), file)


def split_batch(batch: Any) -> tuple[Tensor, Tensor | None]:
    """(inputs, targets) of a batch in any of the forms the module doc lists."""
    if isinstance(batch, Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0], batch[1] if len(batch) > 1 else None
    if isinstance(batch, Mapping):
        for inputs, targets in (("inputs", "targets"), ("x", "y")):
            if inputs in batch:
                return batch[inputs], batch.get(targets)
    if hasattr(batch, "inputs"):
        return batch.inputs, getattr(batch, "targets", None)
    raise ValueError(
        f"batch: expected (inputs, targets), a mapping with inputs/targets, or an object with .inputs, "
        f"got {type(batch).__name__}"
    )


def _output(result: Any) -> Tensor:
    return result[0] if isinstance(result, tuple) else result


def default_loss(output: Tensor, batch: Any) -> Tensor:
    """Cross-entropy for integer targets, mean squared error for float ones."""
    _, targets = split_batch(batch)
    if targets is None:
        raise ValueError("batch: has no targets; give loss_fn(output, batch)")
    if not targets.is_floating_point():
        return nn.functional.cross_entropy(output.flatten(0, -2).float(), targets.flatten())
    return nn.functional.mse_loss(output.float(), targets.float())


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a named tuple
        return type(batch)(*(_to(item, device) for item in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(item, device) for item in batch)
    if isinstance(batch, Mapping):
        return {key: _to(value, device) for key, value in batch.items()}
    if attrs.has(type(batch)):
        return attrs.evolve(batch, **{f.name: _to(getattr(batch, f.name), device) for f in attrs.fields(type(batch))})
    return batch


def run_full_audit(
    model: nn.Module,
    dataloader: Iterable[Any],
    device: torch.device | str = "cpu",
    sample_batch: Any = None,
    *,
    loss_fn: Callable[[Tensor, Any], Tensor] | None = None,
    n_batches: int = 50,
    quiet: bool = False,
) -> FullAudit:
    """Audit ``model`` and ``dataloader`` on ``device``: initialization (on the sample batch's
    inputs), gradient flow (one forward and backward of ``sample_batch``, by default the loader's
    first batch; the model's gradients are cleared afterwards), the loader's batch times over
    ``n_batches`` compared with the time of a training step, and memory. Prints the report unless
    ``quiet``; returns a :class:`FullAudit` whose ``recommendations`` say what to change."""
    device = torch.device(device)
    model = model.to(device)
    if sample_batch is None:
        try:
            sample_batch = next(iter(dataloader))
        except StopIteration:
            raise ValueError("dataloader: gave no batch") from None
    sample_batch = _to(sample_batch, device)
    inputs, _ = split_batch(sample_batch)
    loss_fn = loss_fn or default_loss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    memory_before = resident_memory_mb()

    initialization = InitializationAuditor(model)
    initialization.check_initialization(inputs)

    was_training = model.training
    model.train()
    model.zero_grad(set_to_none=True)
    gradient_flow = GradientFlowAuditor(model)
    gradient_flow.check_gradient_flow(loss_fn(_output(model(inputs)), sample_batch))

    step_times = []
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        loss_fn(_output(model(inputs)), sample_batch).backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        step_times.append(1000 * (time.perf_counter() - start))
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    step_ms = statistics.median(step_times)

    loader = DataLoaderAuditor()
    loader.step_ms = step_ms
    loader.benchmark_dataloader(dataloader, n_batches, quiet=True)

    memory = {
        "Process resident memory before the audit": memory_before,
        "Process resident memory now": resident_memory_mb(),
        "Parameters and gradients": 2 * sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20,
    }
    if device.type == "cuda":
        memory["GPU peak allocated during the audit"] = torch.cuda.max_memory_allocated(device) / 2**20
    advice = initialization.advice() + gradient_flow.advice() + loader.advice()
    audit = FullAudit(initialization, gradient_flow, loader, step_ms, memory, advice)
    if not quiet:
        audit.print_report()
    return audit
