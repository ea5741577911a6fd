"""``StateManager``: a pool of learned state vectors, some active, each with a learned importance.

All ``max_states`` slots exist from the start as rows of one parameter (``states``, (M, D)) with
one importance logit each (``importance_logits``, (M,)); a bool buffer ``active`` says which slots
are in use. Calling the manager gives the active slots, each scaled by its importance
σ(logit) ∈ (0, 1):

    manager() = [σ(l_j) · s_j  for the active j, in slot order]      (active count, D)

so the importance scores take part in the model's output and learn from its loss, like any weight.
Pruning drops the active slots whose importance is below ``prune_threshold`` (always keeping at
least the most important one); allocation re-activates inactive slots, lowest index first, with a
fresh vector and the initial importance.

Why the optimizer keeps working: no parameter ever changes shape or identity. A pruned slot keeps
its row in ``states`` and ``importance_logits``; it takes no part in the output, so its gradient
is zero. An optimizer with momentum (Adam) could still move it a little from the moments it had,
which is harmless because a slot is re-initialised when it is allocated again; pass the optimizer
(``prune_low_importance_states(optimizer)``, ``allocate_states(n, optimizer)``) to zero those
rows' moments as well, so a re-allocated slot starts as a new parameter would.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["StateManager", "reset_optimizer_rows"]

#: the importance a new slot starts with (σ of the initial logit); every slot starts equal
INITIAL_IMPORTANCE = 0.5


class StateManager(nn.Module):
    """A pool of ``max_states`` learned state vectors of width ``state_dim``, ``initial_states`` of
    them active, with learned importance scores, pruning and allocation."""

    def __init__(
        self,
        state_dim: int,
        max_states: int = 64,
        initial_states: int | None = None,
        prune_threshold: float = 0.1,
    ) -> None:
        super().__init__()
        if not isinstance(state_dim, int) or state_dim < 1:
            raise ValueError(f"StateManager.state_dim: must be an int >= 1, got {state_dim!r}")
        if not isinstance(max_states, int) or max_states < 1:
            raise ValueError(f"StateManager.max_states: must be an int >= 1, got {max_states!r}")
        if initial_states is None:
            initial_states = max(1, max_states // 2)
        if not isinstance(initial_states, int) or not 1 <= initial_states <= max_states:
            raise ValueError(f"StateManager.initial_states: must be between 1 and {max_states}, got {initial_states!r}")
        if not 0.0 <= prune_threshold < 1.0:
            raise ValueError(f"StateManager.prune_threshold: must be in [0, 1), got {prune_threshold!r}")
        self.state_dim = state_dim
        self.max_states = max_states
        self.prune_threshold = float(prune_threshold)
        self.states = nn.Parameter(torch.empty(max_states, state_dim))
        initial_logit = math.log(INITIAL_IMPORTANCE / (1 - INITIAL_IMPORTANCE))
        self.importance_logits = nn.Parameter(torch.full((max_states,), initial_logit))
        self.register_buffer("active", torch.arange(max_states) < initial_states)
        nn.init.normal_(self.states, std=1.0 / math.sqrt(state_dim))

    def extra_repr(self) -> str:
        return (
            f"state_dim={self.state_dim}, max_states={self.max_states}, "
            f"active={self.get_active_count()}, prune_threshold={self.prune_threshold}"
        )

    # ---- reading ------------------------------------------------------------------------------

    def forward(self) -> Tensor:
        """The active slots scaled by their importance, (active count, state_dim)."""
        return self.scaled_states()[self.active]

    def scaled_states(self) -> Tensor:
        """Every slot scaled by its importance, active or not, (max_states, state_dim)."""
        return self.states * torch.sigmoid(self.importance_logits)[:, None]

    def importance(self) -> Tensor:
        """Every slot's importance σ(logit), (max_states,), differentiable."""
        return torch.sigmoid(self.importance_logits)

    def get_importance_scores(self) -> Tensor:
        """The importance of the active slots, in slot order, (active count,), detached."""
        return self.importance().detach()[self.active]

    def get_active_count(self) -> int:
        """How many slots are active."""
        return int(self.active.sum())

    # ---- changing which slots are active ------------------------------------------------------

    @torch.no_grad()
    def prune_low_importance_states(self, optimizer: Any = None) -> int:
        """Deactivate the active slots whose importance is below ``prune_threshold`` (the most
        important slot always stays); returns how many were pruned. With ``optimizer``, the
        pruned rows' moments are zeroed too."""
        scores = self.importance()
        weak = self.active & (scores < self.prune_threshold)
        if bool(weak.any()) and bool((weak == self.active).all()):  # every active slot is weak
            keep = torch.where(self.active, scores, torch.full_like(scores, -1.0)).argmax()
            weak[keep] = False
        self.active &= ~weak
        if optimizer is not None:
            reset_optimizer_rows(optimizer, self, weak)
        return int(weak.sum())

    @torch.no_grad()
    def allocate_states(
        self, num_states: int = 1, optimizer: Any = None, generator: torch.Generator | None = None
    ) -> int:
        """Activate up to ``num_states`` inactive slots (lowest index first) with a fresh vector and
        the initial importance; returns how many were allocated (fewer when the pool is full).
        ``generator``: where the fresh vectors are drawn from (CPU; default: torch's global one)."""
        if num_states < 0:
            raise ValueError(f"StateManager.allocate_states: num_states must be >= 0, got {num_states}")
        free = torch.nonzero(~self.active).flatten()[:num_states]
        chosen = torch.zeros_like(self.active)
        chosen[free] = True
        fresh = torch.randn(len(free), self.state_dim, generator=generator) / math.sqrt(self.state_dim)
        self.states[free] = fresh.to(device=self.states.device, dtype=self.states.dtype)
        self.importance_logits[free] = math.log(INITIAL_IMPORTANCE / (1 - INITIAL_IMPORTANCE))
        self.active |= chosen
        if optimizer is not None:
            reset_optimizer_rows(optimizer, self, chosen)
        return len(free)


def reset_optimizer_rows(optimizer: Any, manager: StateManager, rows: Tensor) -> None:
    """Zero ``optimizer``'s per-entry state (moments) of the slots ``rows`` (bool, (max_states,)) of
    ``manager``'s two parameters. Optimizer state not shaped like its parameter is left alone."""
    while not isinstance(optimizer, torch.optim.Optimizer) and hasattr(optimizer, "optimizer"):
        optimizer = optimizer.optimizer  # a wrapper (Lightning Fabric's) keeps the optimizer inside
    for parameter in (manager.states, manager.importance_logits):
        for value in optimizer.state.get(parameter, {}).values():
            if isinstance(value, Tensor) and value.shape == parameter.shape and value.is_floating_point():
                value[rows] = 0
