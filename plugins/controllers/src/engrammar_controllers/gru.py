"""``gru``: a stacked GRU. Whole sequences run through PyTorch's fused ``nn.GRU``; ``step`` runs the
same weights through ``torch.gru_cell`` layer by layer. Both are tested against the written-out
recurrence in :mod:`engrammar_controllers.naive`.
"""

from __future__ import annotations

import torch
from engrammar.spec import spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .recurrent import FusedRecurrent, RecurrentSpec, batch_first, layers_first


@spec
class GRUSpec(RecurrentSpec):
    """Fields as in ``torch.nn.GRU``: ``hidden_size``, ``num_layers``, ``dropout``."""


class GRU(FusedRecurrent):
    """Stacked GRU controller (fused whole-sequence path, cell-by-cell step); state h."""

    spec_cls = GRUSpec
    fused_cls = nn.GRU
    gates = 3

    def state_spec(self) -> dict[str, StateEntry]:
        shape = (self.spec.num_layers, self.spec.hidden_size)
        return {"h": StateEntry(shape, doc="hidden state of each layer (B, num_layers, hidden_size)")}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, h = self.run_fused(x, layers_first(state["h"]))
        return y, {"h": batch_first(h)}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        hidden = []
        layer_input = x_t
        for layer in range(self.spec.num_layers):
            h = torch.gru_cell(layer_input, state["h"][:, layer], *self.layer_weights(layer))
            hidden.append(h)
            layer_input = self._between_layers(h, layer)
        return hidden[-1], {"h": torch.stack(hidden, dim=1)}
