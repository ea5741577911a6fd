"""``lstm``: a stacked LSTM. Whole sequences run through PyTorch's fused ``nn.LSTM``; ``step`` runs
the same weights through ``torch.lstm_cell`` layer by layer. Both are tested against the written-out
recurrence in :mod:`engrammar_controllers.naive`.
"""

from __future__ import annotations

import torch
from engrammar.spec import spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .recurrent import FusedRecurrent, RecurrentSpec, batch_first, layers_first


@spec
class LSTMSpec(RecurrentSpec):
    """Fields as in ``torch.nn.LSTM``: ``hidden_size``, ``num_layers``, ``dropout``."""


class LSTM(FusedRecurrent):
    """Stacked LSTM controller (fused whole-sequence path, cell-by-cell step); state h, c."""

    spec_cls = LSTMSpec
    fused_cls = nn.LSTM
    gates = 4

    def state_spec(self) -> dict[str, StateEntry]:
        shape = (self.spec.num_layers, self.spec.hidden_size)
        return {
            "h": StateEntry(shape, doc="hidden state of each layer (B, num_layers, hidden_size)"),
            "c": StateEntry(shape, doc="cell state of each layer (B, num_layers, hidden_size)"),
        }

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, (h, c) = self.run_fused(x, (layers_first(state["h"]), layers_first(state["c"])))
        return y, {"h": batch_first(h), "c": batch_first(c)}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        hidden, cells = [], []
        layer_input = x_t
        for layer in range(self.spec.num_layers):
            h, c = torch.lstm_cell(
                layer_input, (state["h"][:, layer], state["c"][:, layer]), *self.layer_weights(layer)
            )
            hidden.append(h)
            cells.append(c)
            layer_input = self._between_layers(h, layer)
        return hidden[-1], {"h": torch.stack(hidden, dim=1), "c": torch.stack(cells, dim=1)}
