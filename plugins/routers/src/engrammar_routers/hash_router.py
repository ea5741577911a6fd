"""``hash_router``: a fixed, parameter-free assignment of tokens to experts (Hash Layers).

Each token goes to one expert with weight 1, chosen by a deterministic rule instead of a learned
router (Roller et al. 2021 route by a hash of the token id and match learned routers):

- ``key: token``: the token id is the index of the largest input feature (the id itself for one-hot
  inputs; the first index among equal maxima), and ``expert = table[id]``, a fixed table that gives
  every expert floor(V/E) or ceil(V/E) of the V = in_features ids, shuffled by ``seed``;
- ``key: position``: round robin over time, ``expert = n mod E`` for the n-th token of the sequence
  (counted in the state, 0 again after a reset).

No parameter, no auxiliary loss, no gradient: the weights are constant in the input, so experts and
the rest of the model learn around a routing that cannot collapse.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from engrammar import Router, RouterSpec, report_routing
from engrammar.spec import field, ge, one_of, spec
from engrammar.state import State, StateEntry
from torch import Tensor

__all__ = ["HashRouter", "HashRouterSpec", "balanced_table"]


@spec
class HashRouterSpec(RouterSpec):
    key: Literal["token", "position"] = field(
        default="token", validator=one_of("token", "position"), doc="what is hashed: the token id or its position"
    )
    seed: int = field(default=0, validator=ge(0), doc="key token: shuffles the id -> expert table")


def balanced_table(ids: int, experts: int, seed: int) -> Tensor:
    """``table[id]`` (ids,) int64: expert ``i mod E`` for the i-th id of a permutation drawn with ``seed``."""
    order = torch.randperm(ids, generator=torch.Generator().manual_seed(seed), device="cpu")
    table = torch.empty(ids, dtype=torch.int64, device="cpu")
    table[order] = torch.arange(ids, device="cpu") % experts
    return table


class HashRouter(Router):
    """Deterministic one-hot routing by token id or position: (B, T, in_features) -> (B, T, E), no parameters."""

    spec_cls = HashRouterSpec
    spec: HashRouterSpec

    def __init__(self, spec: HashRouterSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        # derived from the spec, so not saved in checkpoints
        self.register_buffer(
            "table", balanced_table(self.in_features, self.spec.num_experts, self.spec.seed), persistent=False
        )

    def state_spec(self) -> dict[str, Any]:
        if self.spec.key == "token":
            return {}
        return {"position": StateEntry((), dtype="int64", doc="tokens of this sequence so far")}

    def _experts(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """The expert of each token of ``x`` (B, T, in_features): (B, T) int64, and the new state."""
        if self.spec.key == "token":
            return self.table.to(x.device)[x.argmax(-1)], state
        start = state["position"]
        positions = start.unsqueeze(1) + torch.arange(x.shape[1], device=x.device)
        return positions % self.spec.num_experts, {"position": start + x.shape[1]}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        experts, state = self._experts(x, state)
        weights = torch.nn.functional.one_hot(experts, self.spec.num_experts).to(x.dtype)
        report_routing(self, weights, sequence=True)
        return weights, state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        experts, state = self._experts(x_t.unsqueeze(1), state)
        weights = torch.nn.functional.one_hot(experts[:, 0], self.spec.num_experts).to(x_t.dtype)
        report_routing(self, weights, sequence=False)
        return weights, state
