"""``AdamW8bit``: AdamW whose two moments are stored in 8 bits per entry, block-wise quantised with
the dynamic code of :mod:`.quantization` (Dettmers et al., 2022).

Each step, for each parameter: dequantise m and v to float32, apply the AdamW update of
:func:`.naive.adamw_reference` with the new gradient (so this step's update uses the exact new
moments), then quantise m (signed code) and sqrt(v) (unsigned code) back. The second moment is kept
as its square root, the quantity the update divides by: that halves its range in orders of
magnitude. Kept as v itself, an entry whose gradient is 10^4 times smaller than its block's largest
has v 10^8 times smaller, under the code's smallest step: it rounds to zero, and the next update
divides by sqrt(v) computed from one gradient only and runs several times too long
(``benchmarks/adamw8bit.py`` shows both). State per entry: 2 bytes, plus
two float32 absmax values per block (8 / ``block_size`` bytes per entry): 2.03 bytes against
float32 AdamW's 8, about 25 %. Parameters with fewer than ``min_8bit_size`` entries keep float32
moments (their blocks would cost more than they save), as bitsandbytes does.

Plain torch, so it runs wherever torch does (CPU, CUDA, ...). The state is plain tensors: it goes
into checkpoints and resumes exactly. Darwinian regeneration and neurogenesis edit it through
:meth:`AdamW8bit.reset_state_entries` and :meth:`AdamW8bit.resize_state`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

import torch
from torch import Tensor

from .quantization import DEFAULT_BLOCK_SIZE, dequantize_blockwise, dynamic_code, quantize_blockwise

__all__ = ["QUANTISED_KEYS", "AdamW8bit", "state_bytes"]

#: state entries of a quantised parameter (codes: uint8, flat; absmax: float32, per block);
#: ``exp_avg_sq_*`` hold sqrt(v)
QUANTISED_KEYS = ("exp_avg_codes", "exp_avg_absmax", "exp_avg_sq_codes", "exp_avg_sq_absmax")


class AdamW8bit(torch.optim.Optimizer):
    """AdamW with block-wise 8-bit moments (see the module docstring)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        min_8bit_size: int = 4096,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must each be in [0, 1), got {list(betas)}")
        if block_size < 1 or min_8bit_size < 0:
            raise ValueError(f"block_size must be >= 1 and min_8bit_size >= 0, got {block_size}, {min_8bit_size}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)
        self.block_size = block_size
        self.min_8bit_size = min_8bit_size
        self._codes: dict[tuple[bool, str], Tensor] = {}

    # ---- quantised moments ----------------------------------------------------------------------

    def _code(self, signed: bool, device: torch.device) -> Tensor:
        key = (signed, str(device))
        if key not in self._codes:
            self._codes[key] = dynamic_code(signed, device)
        return self._codes[key]

    def quantised(self, parameter: Tensor) -> bool:
        """Whether ``parameter``'s moments are kept in 8 bits."""
        return parameter.numel() >= self.min_8bit_size

    def moments(self, parameter: Tensor) -> tuple[Tensor, Tensor]:
        """``(m, v)`` of ``parameter`` as float32 tensors of its shape (zeros before its first step)."""
        state = self.state.get(parameter)
        if not state:
            zeros = torch.zeros(parameter.shape, dtype=torch.float32, device=parameter.device)
            return zeros, zeros.clone()
        if "exp_avg" in state:
            return state["exp_avg"].float(), state["exp_avg_sq"].float()
        shape, block = parameter.shape, self.block_size
        first = dequantize_blockwise(
            state["exp_avg_codes"], state["exp_avg_absmax"], self._code(True, parameter.device), shape, block
        )
        root = dequantize_blockwise(
            state["exp_avg_sq_codes"], state["exp_avg_sq_absmax"], self._code(False, parameter.device), shape, block
        )
        return first, root.square()

    def _store(self, parameter: Tensor, first: Tensor, second: Tensor) -> None:
        state = self.state[parameter]
        if not self.quantised(parameter):
            state["exp_avg"], state["exp_avg_sq"] = first, second
            return
        block = self.block_size
        state["exp_avg_codes"], state["exp_avg_absmax"] = quantize_blockwise(
            first, self._code(True, parameter.device), block
        )
        state["exp_avg_sq_codes"], state["exp_avg_sq_absmax"] = quantize_blockwise(
            second.sqrt(), self._code(False, parameter.device), block
        )

    # ---- the step -----------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                if parameter.grad.is_sparse:
                    raise RuntimeError("AdamW8bit does not take sparse gradients")
                grad = parameter.grad.float()
                first, second = self.moments(parameter)
                state = self.state[parameter]
                step = state["step"] = state.get("step", torch.tensor(0.0)) + 1
                t = float(step)
                first.lerp_(grad, 1 - beta1)
                second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = (second.sqrt() / math.sqrt(1 - beta2**t)).add_(eps)
                update = first / denominator * (lr / (1 - beta1**t))
                value = parameter.float() * (1 - lr * decay) - update
                parameter.copy_(value)
                self._store(parameter, first, second)
        return loss

    # ---- checkpoints and edits ------------------------------------------------------------------

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        """As ``torch.optim.Optimizer.load_state_dict``, with the quantised entries kept in their
        own dtypes (torch would cast them to the parameter's)."""
        super().load_state_dict(state_dict)  # type: ignore[arg-type]
        saved_ids = chain.from_iterable(group["params"] for group in state_dict["param_groups"])
        current = chain.from_iterable(group["params"] for group in self.param_groups)
        by_id = dict(zip(saved_ids, current))
        for index, saved in state_dict["state"].items():
            parameter = by_id[index]
            for key in QUANTISED_KEYS:
                if key in saved:
                    self.state[parameter][key] = saved[key].to(parameter.device).clone()

    def reset_state_entries(self, parameter: Tensor, mask: Tensor) -> None:
        """Zero the moments of ``parameter`` where ``mask`` is true."""
        if parameter not in self.state or not self.state[parameter]:
            return
        first, second = self.moments(parameter)
        first[mask] = 0
        second[mask] = 0
        self._store(parameter, first, second)

    def resize_state(self, state: dict[str, Any], resized: Any) -> dict[str, Any]:
        """The state of ``resized.old`` carried over to the larger ``resized.new``: old entries
        keep their moments, new ones start at zero (``resized``: an ``engrammar.nn.growth.Resized``)."""
        self.state[resized.old] = state
        first, second = self.moments(resized.old)
        del self.state[resized.old]
        self.state[resized.new] = {"step": state["step"]}
        self._store(resized.new, resized.embed(first), resized.embed(second))
        return self.state[resized.new]


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held by ``optimizer``'s per-parameter state tensors."""
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, Tensor):
                total += value.numel() * value.element_size()
    return total
