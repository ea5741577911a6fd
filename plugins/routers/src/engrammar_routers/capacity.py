"""Expert capacity, counted per sequence and causally.

The Switch Transformer gives each expert room for ``capacity_factor * k * N / E`` of the N tokens of
a batch and drops the selections beyond it. Counting over a batch would make one sample's routing
depend on the other samples and on the future; here each sequence counts its own tokens, in time
order, so the rule keeps the state protocol (batch independence, causality, chunking):

    n_t       tokens of this sequence so far, the current one included
    load_e    selections of expert e accepted so far
    a selection of expert e by token t is accepted  iff  load_e < capacity_factor * k * n_t / E

and ``load_e`` grows by one for each accepted selection. An expert may thus hold at most
``ceil(capacity_factor * k * n_t / E)`` of the first n_t tokens' selections; earlier tokens come
first. ``load`` and ``n`` are the router's state, back to 0 at a reset.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["accept_within_capacity"]


def accept_within_capacity(
    selected: Tensor, load: Tensor, tokens: Tensor, capacity_factor: float, top_k: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Which selections fit: ``selected`` (B, T, E) bool, ``load`` (B, E) and ``tokens`` (B,) int64
    counts before the first step -> accepted (B, T, E) bool, and the counts after the last step."""
    experts = selected.shape[-1]
    # compared in integers and float64: load * E < capacity_factor * k * n, exact for factors such as 1.25
    limit_per_token = capacity_factor * top_k
    accepted = []
    for t in range(selected.shape[1]):
        tokens = tokens + 1
        room = (load * experts).double() < limit_per_token * tokens.double().unsqueeze(-1)
        take = selected[:, t] & room
        load = load + take.long()
        accepted.append(take)
    return torch.stack(accepted, dim=1), load, tokens
