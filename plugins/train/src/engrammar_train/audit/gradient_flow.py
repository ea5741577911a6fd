"""``GradientFlowAuditor``: per-parameter gradient norms after a backward pass, and which
parameters get a vanishing, exploding, non-finite or no gradient at all.

    auditor = GradientFlowAuditor(model)
    loss.backward()
    stats = auditor.check_gradient_flow(loss)      # {parameter name: GradientStats}
    auditor.print_report()

Thresholds (stated in the report): a parameter's gradient *vanishes* when its L2 norm is below
``vanishing_threshold`` (1e-7) and *explodes* when its L2 norm is above ``exploding_threshold``
(10) or it holds inf or NaN. A parameter that takes part in no gradient (``grad`` is None after
backward) is listed apart: the loss does not reach it.
"""

from __future__ import annotations

import math
from typing import TextIO

import attrs
from torch import Tensor, nn

from .report import OK, THIN_RULE, WARN, emit, heading, recommendations

__all__ = ["GradientFlowAuditor", "GradientStats"]


@attrs.frozen
class GradientStats:
    """One parameter's gradient: L2 norm, mean and largest absolute entry, and its verdict
    (``"ok"``, ``"vanishing"``, ``"exploding"`` or ``"unreached"``)."""

    norm: float
    mean_abs: float
    max_abs: float
    status: str


class GradientFlowAuditor:
    """Gradient norms of every trainable parameter of ``model`` and what they say."""

    def __init__(
        self, model: nn.Module, *, vanishing_threshold: float = 1e-7, exploding_threshold: float = 10.0
    ) -> None:
        if not 0 <= vanishing_threshold < exploding_threshold:
            raise ValueError(
                f"vanishing_threshold: must be >= 0 and below exploding_threshold ({exploding_threshold}), "
                f"got {vanishing_threshold}"
            )
        self.model = model
        self.vanishing_threshold = vanishing_threshold
        self.exploding_threshold = exploding_threshold
        self.gradient_stats: dict[str, GradientStats] = {}

    def check_gradient_flow(self, loss: Tensor | None = None) -> dict[str, GradientStats]:
        """Read the gradients left by ``loss.backward()``. If no parameter has a gradient yet and
        ``loss`` still has a graph, runs ``loss.backward()`` first. Returns ``{name: GradientStats}``."""
        parameters = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        if not parameters:
            raise ValueError("model: has no trainable parameters to audit")
        if all(p.grad is None for _, p in parameters) and loss is not None and loss.requires_grad:
            loss.backward()
        self.gradient_stats = {name: self._stats(p.grad) for name, p in parameters}
        return self.gradient_stats

    def _stats(self, grad: Tensor | None) -> GradientStats:
        if grad is None:
            return GradientStats(0.0, 0.0, 0.0, "unreached")
        values = grad.detach().double()
        norm = float(values.norm())
        mean_abs, max_abs = float(values.abs().mean()), float(values.abs().max())
        if not math.isfinite(norm) or norm > self.exploding_threshold:
            status = "exploding"
        elif norm < self.vanishing_threshold:
            status = "vanishing"
        else:
            status = "ok"
        return GradientStats(norm, mean_abs, max_abs, status)

    def names(self, status: str) -> list[str]:
        """The parameters with verdict ``status``."""
        return [name for name, stats in self.gradient_stats.items() if stats.status == status]

    def advice(self) -> list[str]:
        """Concrete recommendations, one line each (empty when gradient flow is healthy)."""
        advice = []
        exploding, vanishing, unreached = self.names("exploding"), self.names("vanishing"), self.names("unreached")
        if exploding:
            worst = max(exploding, key=lambda name: self.gradient_stats[name].norm)
            advice.append(
                f"exploding gradients in {len(exploding)} parameter(s), largest in {worst} "
                f"(norm {self.gradient_stats[worst].norm:.3g}): clip the gradient norm to 1.0, lower the learning "
                "rate, and for a recurrence keep the recurrent weight's spectral radius below 1 "
                "(an orthogonal or smaller initialisation) or shorten truncated backpropagation"
            )
        if vanishing:
            advice.append(
                f"vanishing gradients in {len(vanishing)} parameter(s) ({', '.join(vanishing[:3])}"
                f"{', ...' if len(vanishing) > 3 else ''}): check for saturated sigmoid/tanh gates (see the "
                "initialization audit), add a residual or gated skip path, or shorten the sequence the loss spans"
            )
        if unreached:
            advice.append(
                f"{len(unreached)} parameter(s) get no gradient from this loss ({', '.join(unreached[:3])}"
                f"{', ...' if len(unreached) > 3 else ''}): they are unused on this path; remove them or freeze "
                "them (requires_grad=False) so the optimizer does not carry them"
            )
        return advice

    def report_lines(self) -> list[str]:
        lines = heading("GRADIENT FLOW AUDIT")
        if not self.gradient_stats:
            return [*lines, f"{WARN} No gradient statistics yet: call check_gradient_flow(loss) first."]
        lines += [
            f"Parameters: {len(self.gradient_stats)}",
            f"Total gradient norm: {math.sqrt(sum(s.norm**2 for s in self.gradient_stats.values())):.4g}",
            f"Vanishing gradients: {len(self.names('vanishing'))}   (L2 norm < {self.vanishing_threshold:g})",
            f"Exploding gradients: {len(self.names('exploding'))}   (L2 norm > {self.exploding_threshold:g}, or inf/NaN)",
            f"No gradient: {len(self.names('unreached'))}",
            "",
            THIN_RULE,
            f"{'parameter':<44} {'norm':>11} {'mean |g|':>11} {'max |g|':>11}  status",
            THIN_RULE,
        ]
        for name, stats in self.gradient_stats.items():
            mark = OK if stats.status == "ok" else WARN
            lines.append(
                f"{name:<44} {stats.norm:>11.3e} {stats.mean_abs:>11.3e} {stats.max_abs:>11.3e}  {mark} {stats.status}"
            )
        return lines + recommendations(self.advice(), "Gradient flow looks healthy!")

    def print_report(self, file: TextIO | None = None) -> None:
        """Print the report (to stdout, or ``file``)."""
        emit(self.report_lines(), file)
