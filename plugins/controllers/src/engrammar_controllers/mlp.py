"""``mlp``: a stateless feed-forward controller applied at every time step.

Each hidden layer is ``Linear -> normalization -> activation -> dropout``; an optional final
``Linear`` maps to ``out_features``. With no state, a whole sequence is one batched call.
"""

from __future__ import annotations

from engrammar.component import Component
from engrammar.spec import ComponentSpec, between, field, ge, one_of, spec
from engrammar.state import State
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
NORMALIZATIONS = ("none", "layer", "rms")


@spec
class MLPSpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width of every hidden layer")
    num_layers: int = field(default=2, validator=ge(1), doc="hidden layers (Linear, norm, activation, dropout)")
    out_features: int | None = field(
        default=None, validator=ge(1), doc="width of a final linear layer; None: output the last hidden layer"
    )
    activation: str = field(default="relu", validator=one_of(*ACTIVATIONS), doc="nonlinearity of hidden layers")
    normalization: str = field(
        default="none", validator=one_of(*NORMALIZATIONS), doc="per-layer norm before the activation"
    )
    dropout: float = field(
        default=0.0, validator=between(0.0, 1.0), doc="dropout after each hidden layer (training only)"
    )


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(width)
    if kind == "rms":
        return nn.RMSNorm(width)
    return nn.Identity()


class MLP(Component):
    """Stateless multilayer perceptron applied at every time step (configurable depth and norm)."""

    spec_cls = MLPSpec
    spec: MLPSpec

    def __init__(self, spec: MLPSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        layers: list[nn.Module] = []
        width = self.in_features
        for _ in range(s.num_layers):
            layers += [
                nn.Linear(width, s.hidden_size),
                _norm(s.normalization, s.hidden_size),
                ACTIVATIONS[s.activation](),
                nn.Dropout(s.dropout),
            ]
            width = s.hidden_size
        if s.out_features is not None:
            layers.append(nn.Linear(width, s.out_features))
        self.net = nn.Sequential(*layers)

    @property
    def out_features(self) -> int:
        return self.spec.out_features if self.spec.out_features is not None else self.spec.hidden_size

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self.net(x_t), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.net(x), state  # no state: every time step at once
