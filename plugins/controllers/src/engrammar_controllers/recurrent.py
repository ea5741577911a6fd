"""What ``lstm`` and ``gru`` share: the spec fields of ``torch.nn.LSTM`` / ``torch.nn.GRU``, the
fused module that runs whole sequences, and the per-layer weights that ``step`` feeds to the cells.

State is batch first, ``(B, num_layers, hidden_size)`` per tensor; PyTorch's fused modules want
``(num_layers, B, hidden_size)``, so the state is transposed at the boundary only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import torch
from engrammar.component import Component
from engrammar.nn.growth import Growth, Resized, build_empty, outgoing, place, set_parameter, state_widener
from engrammar.spec import ComponentSpec, between, field, ge, spec
from torch import Tensor, nn


@spec
class RecurrentSpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width of the hidden state and of the output")
    num_layers: int = field(default=1, validator=ge(1), doc="stacked recurrent layers")
    dropout: float = field(
        default=0.0,
        validator=between(0.0, 1.0),
        doc="dropout on every layer's output except the last, in training only (no effect with one layer, as in PyTorch)",
    )


class FusedRecurrent(Component):
    """Base of the fused recurrent controllers. Subclasses set ``fused_cls`` (``nn.LSTM``/``nn.GRU``)."""

    spec: RecurrentSpec
    fused_cls: type[nn.LSTM] | type[nn.GRU]
    #: gates stacked in each weight's rows (LSTM: i, f, g, o; GRU: r, z, n)
    gates: ClassVar[int]

    def __init__(self, spec: RecurrentSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        # PyTorch warns about dropout with one layer, where it does nothing anyway.
        self.rnn = self.fused_cls(
            self.in_features,
            s.hidden_size,
            num_layers=s.num_layers,
            dropout=s.dropout if s.num_layers > 1 else 0.0,
            batch_first=True,
        )

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def run_fused(self, x: Tensor, hidden: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Any]:
        """The fused module on ``x`` (B, T, in) from ``hidden`` (layers first).

        Under CPU autocast it runs in the weights' dtype instead: oneDNN has no reduced-precision
        fused RNN kernel on many CPUs ("could not create a primitive descriptor"). On a GPU,
        autocast reaches cuDNN as usual.
        """
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            dtype = self.layer_weights(0)[0].dtype
            with torch.autocast("cpu", enabled=False):
                if isinstance(hidden, tuple):
                    return self.rnn(x.to(dtype), tuple(h.to(dtype) for h in hidden))
                return self.rnn(x.to(dtype), hidden.to(dtype))
        return self.rnn(x, hidden)

    def layer_weights(self, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer, the fused module's own tensors."""
        return (
            getattr(self.rnn, f"weight_ih_l{layer}"),
            getattr(self.rnn, f"weight_hh_l{layer}"),
            getattr(self.rnn, f"bias_ih_l{layer}"),
            getattr(self.rnn, f"bias_hh_l{layer}"),
        )

    def grow(self, amount: int, *, generator: torch.Generator | None = None, outgoing_std: float = 0.01) -> Growth:
        """This controller with ``amount`` more hidden units in every layer, its function kept
        (the growth protocol of :mod:`engrammar.nn.growth`).

        A new unit's gate rows (input and recurrent weights, both biases) are zero, so all its gates
        sit at their midpoint and its candidate at zero: it starts at zero and stays there (an LSTM's
        cell ``c = 0.5 c + 0.5 * 0``, a GRU's ``h = 0.5 h + 0.5 * 0``). Its outgoing weights, the
        recurrent and next-layer input columns into the old units, are normal with ``outgoing_std``.
        """
        s = self.spec
        hidden, wider = s.hidden_size, s.hidden_size + amount
        grown = build_empty(type(self), attrs.evolve(s, hidden_size=wider), like=self)
        units = torch.arange(hidden)  # old units keep their indices; new ones come after
        rows = (torch.arange(self.gates)[:, None] * wider + units).flatten()  # old units' gate rows
        resized = []
        for layer in range(s.num_layers):
            for kind, old in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), self.layer_weights(layer)):
                name = f"rnn.{kind}_l{layer}"
                new_shape = getattr(grown.rnn, f"{kind}_l{layer}").shape
                reads_units = kind == "weight_hh" or (kind == "weight_ih" and layer > 0)
                values = torch.zeros(new_shape, device=old.device, dtype=old.dtype)
                if reads_units:  # new units' outgoing weights into the old units' gates
                    values[rows] = outgoing(new_shape, outgoing_std, generator, old)[rows]
                if old.dim() == 2:
                    columns = units if reads_units else torch.arange(old.shape[1])
                    positions: tuple[Tensor, ...] = (rows, columns)
                else:
                    positions = (rows,)
                place(old.detach(), positions, values)
                parameter = nn.Parameter(values, requires_grad=old.requires_grad)
                set_parameter(grown, name, parameter)
                resized.append(Resized(name, old, parameter, positions))
        state = {key: (None, units) for key in self.state_spec()}
        return Growth(grown, tuple(resized), units, state_widener(grown, state))

    def _between_layers(self, output: Tensor, layer: int) -> Tensor:
        """The fused module's inter-layer dropout, applied the same way in ``step``."""
        if layer < self.spec.num_layers - 1 and self.spec.dropout > 0 and self.training:
            return nn.functional.dropout(output, self.spec.dropout, training=True)
        return output


def layers_first(state: Tensor) -> Tensor:
    """(B, L, H) -> (L, B, H), contiguous, as the fused modules want it."""
    return state.transpose(0, 1).contiguous()


def batch_first(state: Tensor) -> Tensor:
    """(L, B, H) -> (B, L, H)."""
    return state.transpose(0, 1)
