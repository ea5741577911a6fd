"""The one update rule of a RealNet, shared by the documented ``RealNet`` class and the registry
memory ``realnet``.

N neurons, all connected to all (self-loops included) through one N×N matrix W (``W[i, j]``: the
synapse from neuron i to neuron j) and a bias b. One thinking step::

    h_t = act(h_{t-1} W + b + u_t)

where ``u_t`` (B, N) is the external drive: the input placed on the input neurons on the steps that
receive input, zero on the silent steps. Nothing else happens between steps: depth comes from
running the same layer again (temporal depth), not from stacking layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from engrammar.spec import SpecError
from torch import Tensor

__all__ = [
    "ACTIVATIONS",
    "WEIGHT_INITS",
    "activation_fn",
    "initialize_synapses",
    "injection_steps",
    "stretch_factor",
    "think",
]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "gelu": F.gelu,
    "silu": F.silu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "softsign": F.softsign,
}

WEIGHT_INITS = (
    "orthogonal",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "normal",
    "uniform",
)


def activation_fn(name: str, path: str = "activation") -> Callable[[Tensor], Tensor]:
    """The activation called ``name``."""
    if name not in ACTIVATIONS:
        raise SpecError(path, f"unknown activation {name!r} (choose from {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]


def initialize_synapses(weight: Tensor, scheme: str, generator: torch.Generator | None = None) -> None:
    """Initialise the N×N synapse matrix in place with ``scheme`` (one of :data:`WEIGHT_INITS`)."""
    with torch.no_grad():
        if scheme == "orthogonal":
            torch.nn.init.orthogonal_(weight, generator=generator)
        elif scheme == "xavier_uniform":
            torch.nn.init.xavier_uniform_(weight, generator=generator)
        elif scheme == "xavier_normal":
            torch.nn.init.xavier_normal_(weight, generator=generator)
        elif scheme == "kaiming_uniform":
            torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        elif scheme == "kaiming_normal":
            torch.nn.init.kaiming_normal_(weight, generator=generator)
        elif scheme == "normal":
            torch.nn.init.normal_(weight, std=1.0 / math.sqrt(weight.shape[0]), generator=generator)
        elif scheme == "uniform":
            bound = 1.0 / math.sqrt(weight.shape[0])
            torch.nn.init.uniform_(weight, -bound, bound, generator=generator)
        else:
            raise SpecError("weight_init", f"unknown weight_init {scheme!r} (choose from {', '.join(WEIGHT_INITS)})")


def stretch_factor(tokens: int, steps: int) -> int:
    """Steps per token when ``tokens`` inputs are spread over ``steps`` thinking steps: each token
    is followed by ``factor - 1`` silent steps (100 tokens over 500 steps: 5, so 4 silent steps).
    Fewer steps than tokens run one step per token."""
    return max(steps // tokens, 1)


def injection_steps(tokens: int, steps: int) -> list[int]:
    """The step at which each token is injected (the slow, obvious form of the schedule)."""
    factor = stretch_factor(tokens, steps)
    return [k * factor for k in range(tokens)]


def think(
    weight: Tensor,
    bias: Tensor,
    activation: Callable[[Tensor], Tensor],
    state: Tensor,
    drives: Callable[[int], Tensor | None],
    steps: int,
) -> tuple[Tensor, Tensor]:
    """Run ``steps`` thinking steps from ``state`` (B, N). ``drives(t)`` is the drive u_t (B, N)
    of step t, or ``None`` on a silent step. Returns every step's state (B, steps, N) and the
    last one (B, N)."""
    states = []
    for t in range(steps):
        pre = torch.addmm(bias, state, weight) if state.dim() == 2 else state @ weight + bias
        drive = drives(t)
        if drive is not None:
            pre = pre + drive
        state = activation(pre)
        states.append(state)
    return torch.stack(states, dim=1), state
