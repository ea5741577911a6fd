"""``mlp``: a stateless feed-forward controller applied at every time step.

Each hidden layer is ``Linear -> normalization -> activation -> dropout``; an optional final
``Linear`` maps to ``out_features``. With no state, a whole sequence is one batched call.
"""

from __future__ import annotations

import attrs
import torch
from engrammar.component import Component
from engrammar.nn.growth import Growth, Resized, build_empty, outgoing, place, set_parameter
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

    def grow(self, amount: int, *, generator: torch.Generator | None = None, outgoing_std: float = 0.01) -> Growth:
        """This MLP with ``amount`` more units in every hidden layer, its function kept (the growth
        protocol of :mod:`engrammar.nn.growth`).

        With tanh, gelu or silu (zero at zero, with a slope there) a new unit's incoming weights and
        bias are zero, so it outputs zero, and its outgoing weights are normal with
        ``outgoing_std``, so that gradients reach it. With relu (no slope at zero: such a unit would
        never learn) or sigmoid (0.5 at zero) the roles swap: incoming weights normal with
        ``outgoing_std``, outgoing weights zero (``Growth.silent`` is then false, and a wiring gives
        its readers zero weights from the new units too). New entries of a normalization's scale
        are 1 and of its shift 0; a normalization over the wider layer changes the function.
        """
        s = self.spec
        wider = s.hidden_size + amount
        grown = build_empty(type(self), attrs.evolve(s, hidden_size=wider), like=self)
        units = torch.arange(s.hidden_size)
        silent = s.activation in ("tanh", "gelu", "silu")
        resized = []
        for name, old in self.named_parameters():
            new_shape = grown.get_parameter(name).shape
            if new_shape == old.shape:  # the final layer's bias: kept as it is
                set_parameter(grown, name, old)
                continue
            index, _, kind = name.removeprefix("net.").partition(".")
            module = self.net[int(index)]
            if isinstance(module, nn.Linear):
                receives_new = new_shape[0] != old.shape[0]  # a hidden layer: new units' incoming row
                sends_new = old.dim() == 2 and new_shape[1] != old.shape[1]  # reads a hidden layer
                values = torch.zeros(new_shape, device=old.device, dtype=old.dtype)
                rows = units if receives_new else torch.arange(old.shape[0])
                if silent and sends_new:  # new units' outgoing weights into the old units (or the outputs)
                    values[rows] = outgoing(new_shape, outgoing_std, generator, old)[rows]
                elif not silent and receives_new and old.dim() == 2:  # new units' incoming weights
                    values[s.hidden_size :] = outgoing(new_shape, outgoing_std, generator, old)[s.hidden_size :]
                positions: tuple[Tensor, ...] = (
                    (rows,) if old.dim() == 1 else (rows, units if sends_new else torch.arange(old.shape[1]))
                )
            else:  # a normalization's scale (new units: 1) or shift (new units: 0)
                values = torch.full(new_shape, 1.0 if kind == "weight" else 0.0, device=old.device, dtype=old.dtype)
                positions = (units,)
            place(old.detach(), positions, values)
            parameter = nn.Parameter(values, requires_grad=old.requires_grad)
            set_parameter(grown, name, parameter)
            resized.append(Resized(name, old, parameter, positions))
        output = units if s.out_features is None else None
        return Growth(grown, tuple(resized), output, lambda state: state, silent=silent)
