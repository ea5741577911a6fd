"""What the memories report through engrammar's auxiliary channel (``engrammar.recording``).

Metrics, each a mean over the tokens (and heads) of the recorded calls: ``inner_loss`` (the inner,
fast loss ℓ_t at the weights its gradient is taken at), the gates: ``lr`` (θ, or TTT's η),
``momentum`` (η) and ``decay`` (α) where the memory has them, and ``weight_norm``, the norm of the
weights each token's gradient is taken at. Traces (for plots): the same, per token and head.
"""

from __future__ import annotations

from engrammar.recorder import Pooled, is_tracing, report_metric, report_trace
from torch import Tensor, nn

from .ops.inner_model import weight_norm

__all__ = ["report_memory", "weight_norm"]


def report_memory(module: nn.Module, values: dict[str, Tensor], weight_norm: Tensor, *, sequence: bool) -> None:
    """``values``: name -> (B, T, H) with ``sequence``, (B, H) for one step; ``weight_norm`` alike."""
    for name, value in {**values, "weight_norm": weight_norm}.items():
        report_metric(module, name, Pooled.mean(value.detach().mean(), float(value.numel())))
    if is_tracing(module):
        report_trace(module, {**values, "weight_norm": weight_norm}, sequence=sequence)
