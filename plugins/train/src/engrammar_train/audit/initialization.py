"""``InitializationAuditor``: what a model's initial weights will do, before any training.

Three checks:

- **Gate saturation.** One forward pass on sample inputs (standard normal ones of the model's
  input width unless given) with every ``sigmoid`` and ``tanh`` call watched (a
  :class:`torch.overrides.TorchFunctionMode`, so functional calls and ``nn.Sigmoid`` alike), each
  attributed to the module that made it. A pre-activation z is *saturated* when |z| > 4 for a
  sigmoid (σ'(z) < 0.018, under 7 % of its largest slope) or |z| > 2 for a tanh (tanh'(z) < 0.071);
  a call site is at risk when more than ``saturation_fraction`` (25 %) of its pre-activations are.
  Gates inside fused kernels (``nn.LSTM``, ``nn.GRU``) make no such call and are not seen.
- **Symmetry.** A weight with two or more dimensions whose entries are all equal (all zeros, say)
  gives every unit it feeds the same gradient, so they can never become different. Vectors
  (biases, norm scales) are not checked: a zero bias is normal.
- **Fan-in rule.** A weight of fan-in n keeps signals at unit scale when var(W) ≈ 1 / n (LeCun;
  PyTorch's default gives 1 / (3n), Xavier 2 / (n + fan-out)). The check reports var(W) · n and
  flags it outside [``min_fan_in_ratio``, ``max_fan_in_ratio``] = [0.05, 4]. Fan-in follows torch's
  convention (the second dimension times the rest); embedding tables are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TextIO

import attrs
import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .report import OK, THIN_RULE, WARN, emit, heading, recommendations

__all__ = ["GateSaturation", "InitializationAuditor", "WeightStats"]

#: |pre-activation| beyond which each activation counts as saturated
SATURATION_BOUNDS = {"sigmoid": 4.0, "tanh": 2.0}

_WATCHED: dict[Callable[..., Any], str] = {
    torch.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    Tensor.sigmoid: "sigmoid",
    Tensor.tanh: "tanh",
    torch.nn.functional.sigmoid: "sigmoid",
    torch.nn.functional.tanh: "tanh",
}


@attrs.frozen
class GateSaturation:
    """The pre-activations one module fed to one activation: how many values, the share beyond
    the saturation bound, and their mean absolute size."""

    module: str
    activation: str
    values: int
    saturated_fraction: float
    mean_abs: float


@attrs.frozen
class WeightStats:
    """One weight: shape, mean, standard deviation, fan-in, var · fan-in, and whether all its
    entries are equal."""

    shape: tuple[int, ...]
    mean: float
    std: float
    fan_in: int
    fan_in_ratio: float
    constant: bool


class _Watch(TorchFunctionMode):
    """Collects the inputs of sigmoid/tanh calls, keyed by the module running at the time."""

    def __init__(self, current: list[str]) -> None:
        super().__init__()
        self.current = current
        self.seen: dict[tuple[str, str], list[Tensor]] = {}

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kind = _WATCHED.get(func)
        if kind is not None and args and isinstance(args[0], Tensor):
            key = (self.current[-1] if self.current else "", kind)
            self.seen.setdefault(key, []).append(args[0].detach().flatten().double())
        return func(*args, **(kwargs or {}))


class InitializationAuditor:
    """Gate saturation, symmetry and fan-in checks of ``model``'s initial weights."""

    def __init__(
        self,
        model: nn.Module,
        *,
        saturation_fraction: float = 0.25,
        min_fan_in_ratio: float = 0.05,
        max_fan_in_ratio: float = 4.0,
    ) -> None:
        if not 0 < saturation_fraction < 1:
            raise ValueError(f"saturation_fraction: must be in (0, 1), got {saturation_fraction}")
        if not 0 < min_fan_in_ratio < max_fan_in_ratio:
            raise ValueError(
                f"min_fan_in_ratio: must be > 0 and below max_fan_in_ratio ({max_fan_in_ratio}), got {min_fan_in_ratio}"
            )
        self.model = model
        self.saturation_fraction = saturation_fraction
        self.min_fan_in_ratio = min_fan_in_ratio
        self.max_fan_in_ratio = max_fan_in_ratio
        self.gates: list[GateSaturation] = []
        self.weights: dict[str, WeightStats] = {}
        self.input_description = ""

    # ---- checks ------------------------------------------------------------------------------

    def check_initialization(self, sample_input: Tensor | None = None) -> dict[str, Any]:
        """Run all three checks. ``sample_input``: what the model is fed (B, T, in) for the
        saturation check; default 8 × 16 standard normal steps of the model's ``in_features``
        (the check is skipped, and says so, for a model without one). Returns
        ``{"gates": [GateSaturation], "weights": {name: WeightStats}}``."""
        self.weights = {name: _weight_stats(p) for name, p in self._weights()}
        self.gates = []
        if sample_input is None:
            width = getattr(self.model, "in_features", None)
            if isinstance(width, int):
                parameter = next(self.model.parameters(), None)
                dtype = parameter.dtype if parameter is not None else torch.float32
                device = parameter.device if parameter is not None else None
                generator = torch.Generator().manual_seed(0)
                sample_input = torch.randn(8, 16, width, generator=generator, dtype=dtype).to(device)
        if sample_input is None:
            self.input_description = "no sample input (the model declares no in_features): gates not checked"
        else:
            self.input_description = (
                f"sample input {tuple(sample_input.shape)}, mean {float(sample_input.double().mean()):.3g}, "
                f"std {float(sample_input.double().std()):.3g}"
            )
            self.gates = self._watch_gates(sample_input)
        return {"gates": self.gates, "weights": self.weights}

    def _weights(self) -> list[tuple[str, Tensor]]:
        skipped = {id(m.weight) for m in self.model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))}
        return [
            (name, p)
            for name, p in self.model.named_parameters()
            if p.requires_grad and p.dim() >= 2 and id(p) not in skipped
        ]

    def _watch_gates(self, sample_input: Tensor) -> list[GateSaturation]:
        current: list[str] = []

        def enter(name: str) -> Callable[..., None]:
            return lambda module, args: current.append(name)

        def leave(module: nn.Module, args: Any, output: Any) -> None:
            current.pop()  # returning None keeps the module's output as it is

        handles = []
        for name, module in self.model.named_modules():
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave, always_call=True))
        watch = _Watch(current)
        try:
            with torch.no_grad(), watch:
                self.model(sample_input)
        finally:
            for handle in handles:
                handle.remove()
        found = []
        for (module, kind), chunks in watch.seen.items():
            values = torch.cat(chunks)
            saturated = float((values.abs() > SATURATION_BOUNDS[kind]).double().mean())
            found.append(
                GateSaturation(module or "<model>", kind, values.numel(), saturated, float(values.abs().mean()))
            )
        return found

    # ---- verdicts ----------------------------------------------------------------------------

    def saturated_gates(self) -> list[GateSaturation]:
        return [gate for gate in self.gates if gate.saturated_fraction > self.saturation_fraction]

    def constant_weights(self) -> list[str]:
        return [name for name, stats in self.weights.items() if stats.constant]

    def off_fan_in(self) -> list[str]:
        return [
            name
            for name, stats in self.weights.items()
            if not stats.constant and not self.min_fan_in_ratio <= stats.fan_in_ratio <= self.max_fan_in_ratio
        ]

    def advice(self) -> list[str]:
        """Concrete recommendations, one line each (empty when nothing is wrong)."""
        advice = []
        for gate in self.saturated_gates():
            bound = SATURATION_BOUNDS[gate.activation]
            advice.append(
                f"{gate.module}: {gate.saturated_fraction:.0%} of its {gate.activation} pre-activations have "
                f"|z| > {bound:g} (mean |z| {gate.mean_abs:.3g}), so their gradient is nearly zero: bring z toward "
                "0 at the start (a bias near 0, ±1 at most; weights scaled so |z| is about 1 for inputs of this "
                "size; a softer gate, a higher temperature, where the gate has one)"
            )
        for name in self.constant_weights():
            stats = self.weights[name]
            value = "zeros" if stats.mean == 0 else f"the constant {stats.mean:.3g}"
            advice.append(
                f"{name} {stats.shape} is {value}: every unit it feeds gets the same gradient and they never "
                f"differ; initialise it randomly (torch.nn.init.xavier_uniform_ or orthogonal_)"
            )
        for name in self.off_fan_in():
            stats = self.weights[name]
            direction = "large: signals grow" if stats.fan_in_ratio > self.max_fan_in_ratio else "small: signals shrink"
            advice.append(
                f"{name}: var · fan-in = {stats.fan_in_ratio:.3g} (fan-in {stats.fan_in}) is too {direction} "
                f"layer by layer or step by step; use std ≈ {1 / math.sqrt(stats.fan_in):.3g} = 1/√fan-in "
                f"(torch.nn.init.xavier_uniform_ or kaiming_uniform_)"
            )
        return advice

    # ---- report ------------------------------------------------------------------------------

    def report_lines(self) -> list[str]:
        lines = heading("INITIALIZATION AUDIT")
        if not self.weights and not self.gates:
            return [*lines, f"{WARN} No initialization statistics yet: call check_initialization() first."]
        lines += [
            f"Saturation risk for sigmoid/tanh gates ({self.input_description}; saturated: |z| > 4 for a "
            f"sigmoid, |z| > 2 for a tanh; at risk above {self.saturation_fraction:.0%}):",
            f"{'module':<44} {'activation':>10} {'values':>8} {'saturated':>10} {'mean |z|':>9}",
            THIN_RULE,
        ]
        at_risk = {id(gate) for gate in self.saturated_gates()}
        for gate in self.gates:
            mark = WARN if id(gate) in at_risk else OK
            lines.append(
                f"{gate.module:<44} {gate.activation:>10} {gate.values:>8} {gate.saturated_fraction:>10.1%} "
                f"{gate.mean_abs:>9.3g} {mark}"
            )
        if not self.gates:
            lines.append("(no sigmoid or tanh call)")
        lines += [
            "",
            f"Weights (zero or constant: cannot break symmetry; var · fan-in outside "
            f"[{self.min_fan_in_ratio:g}, {self.max_fan_in_ratio:g}]):",
            f"{'parameter':<44} {'shape':>14} {'std':>9} {'fan-in':>7} {'var·fan-in':>11}",
            THIN_RULE,
        ]
        flagged = set(self.constant_weights()) | set(self.off_fan_in())
        for name, stats in self.weights.items():
            mark = WARN if name in flagged else OK
            shape = "×".join(map(str, stats.shape))
            lines.append(
                f"{name:<44} {shape:>14} {stats.std:>9.3g} {stats.fan_in:>7} {stats.fan_in_ratio:>11.3g} {mark}"
            )
        return lines + recommendations(self.advice(), "Initialization looks healthy!")

    def print_report(self, file: TextIO | None = None) -> None:
        """Print the report (to stdout, or ``file``)."""
        emit(self.report_lines(), file)


def _weight_stats(weight: Tensor) -> WeightStats:
    values = weight.detach().double()
    fan_in = int(values.shape[1] * math.prod(values.shape[2:]))
    variance = float(values.var(unbiased=False))
    constant = bool((values == values.flatten()[0]).all())
    return WeightStats(
        tuple(values.shape), float(values.mean()), math.sqrt(variance), fan_in, variance * fan_in, constant
    )
