"""The readable definitions the fast paths are tested against.

- :func:`quantize_naive`: block by block, entry by entry, the code value nearest to the normalised
  entry (the lowest index on a tie), by looking at all 256;
- :func:`adamw_reference`: AdamW (Loshchilov & Hutter, 2019) in float32 as PyTorch defines it, one
  parameter at a time, written out::

      θ ← θ - lr·λ·θ
      m ← β1·m + (1 - β1)·g          v ← β2·v + (1 - β2)·g²
      θ ← θ - lr · (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + ε)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["adamw_reference", "quantize_naive"]


def quantize_naive(tensor: Tensor, code: Tensor, block_size: int) -> tuple[Tensor, Tensor]:
    """Same contract as :func:`engrammar_tricks.adamw8bit.quantization.quantize_blockwise`."""
    flat = tensor.detach().reshape(-1).float()
    codes = torch.empty(flat.numel(), dtype=torch.uint8)
    absmaxes = []
    for start in range(0, flat.numel(), block_size):
        block = flat[start : start + block_size]
        absmax = block.abs().max()
        absmaxes.append(absmax)
        for offset in range(block.numel()):
            normalized = block[offset] / absmax if absmax > 0 else torch.tensor(0.0)
            distances = (normalized - code).abs().tolist()  # float32 arithmetic, as on the fast path
            codes[start + offset] = distances.index(min(distances))
    return codes, torch.stack(absmaxes)


def adamw_reference(
    parameters: Sequence[Tensor],
    gradients: Sequence[Sequence[Tensor]],
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> list[Tensor]:
    """The parameters after one AdamW step per entry of ``gradients`` (``gradients[t][i]``: the
    gradient of parameter i at step t+1)."""
    beta1, beta2 = betas
    thetas = [p.detach().float().clone() for p in parameters]
    first = [torch.zeros_like(t) for t in thetas]
    second = [torch.zeros_like(t) for t in thetas]
    for step, grads in enumerate(gradients, start=1):
        for i, grad in enumerate(grads):
            g = grad.float()
            thetas[i] = thetas[i] - lr * weight_decay * thetas[i]
            first[i] = beta1 * first[i] + (1 - beta1) * g
            second[i] = beta2 * second[i] + (1 - beta2) * g * g
            corrected_first = first[i] / (1 - beta1**step)
            corrected_second = second[i] / (1 - beta2**step)
            thetas[i] = thetas[i] - lr * corrected_first / (corrected_second.sqrt() + eps)
    return thetas
