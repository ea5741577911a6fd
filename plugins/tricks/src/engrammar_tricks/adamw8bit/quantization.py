"""Block-wise 8-bit quantisation with a dynamic code (Dettmers et al., 2022, "8-bit Optimizers via
Block-wise Quantization").

A tensor is cut into blocks of ``block_size`` entries; each block is divided by its largest
magnitude (its *absmax*, kept in float32), which puts every entry in [-1, 1], and every entry is
replaced by the index (one byte) of the nearest of 256 code values. Dequantising multiplies the
code value by the block's absmax. Blocks keep an outlier's damage to its own block.

The code is *dynamic* (dynamic tree quantisation): after the sign bit, the number of leading zero
bits e sets a decimal exponent and the bits after the first one are a linear fraction, so a code
value is ``± 10^(-e) · q`` with ``q`` the centre of one of ``2^f`` equal bins of [0.1, 1]:

- signed (first moments): e = 0..6 with f = 6 - e fraction bits (64 values in [0.1, 1], 32 in
  [0.01, 0.1], ..., one near 1e-6), both signs, plus 0 and 1: 256 values;
- unsigned (second moments, never negative): the sign bit becomes a fraction bit, e = 0..7 with
  f = 7 - e, plus 0: 256 values.

Magnitudes down to about 1e-6 (signed) or 1e-7 (unsigned) of their block's absmax are represented,
with a relative error of at most 7 % (signed) or 3.5 % (unsigned) in the top decade, doubling with
every decade below: precision where the values are large, range where they are small, which suits
Adam's moments. ``quantize_blockwise`` finds the nearest
code by bisection over the midpoints between sorted codes; :mod:`.naive` keeps the arg-min over
all 256 codes as the oracle.
"""

from __future__ import annotations

from functools import cache

import torch
from torch import Tensor

__all__ = ["DEFAULT_BLOCK_SIZE", "dequantize_blockwise", "dynamic_code", "quantize_blockwise"]

DEFAULT_BLOCK_SIZE = 256


@cache
def _code_values(signed: bool) -> tuple[float, ...]:
    exponents = 7 if signed else 8
    values = [0.0, 1.0] if signed else [0.0]
    for e in range(exponents):
        bins = 2 ** (exponents - 1 - e)
        for k in range(bins):
            magnitude = 10.0 ** (-e) * (0.1 + 0.9 * (k + 0.5) / bins)
            values.append(magnitude)
            if signed:
                values.append(-magnitude)
    assert len(values) == 256, len(values)
    return tuple(sorted(values))


def dynamic_code(signed: bool, device: torch.device | str = "cpu") -> Tensor:
    """The 256 code values, ascending, float32."""
    return torch.tensor(_code_values(signed), dtype=torch.float32, device=device)


def _blocks(flat: Tensor, block_size: int) -> Tensor:
    padding = (-flat.numel()) % block_size
    if padding:
        flat = torch.cat([flat, flat.new_zeros(padding)])
    return flat.view(-1, block_size)


def quantize_blockwise(tensor: Tensor, code: Tensor, block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[Tensor, Tensor]:
    """``tensor`` (any shape) -> (codes: uint8, ``numel`` entries, flat; absmax: float32, one per block)."""
    blocks = _blocks(tensor.detach().reshape(-1).float(), block_size)
    absmax = blocks.abs().amax(dim=1)
    normalized = blocks / absmax.clamp(min=torch.finfo(torch.float32).tiny)[:, None]
    midpoints = (code[1:] + code[:-1]) / 2
    index = torch.bucketize(normalized, midpoints)
    # A midpoint rounded in float32 can put an entry one code off: settle against both neighbours,
    # as the arg-min over float32 distances does (the lower code on a tie).
    distance = (normalized - code[index]).abs()
    lower = (index - 1).clamp(min=0)
    index = torch.where((normalized - code[lower]).abs() <= distance, lower, index)
    distance = (normalized - code[index]).abs()
    upper = (index + 1).clamp(max=code.numel() - 1)
    index = torch.where((normalized - code[upper]).abs() < distance, upper, index)
    return index.to(torch.uint8).reshape(-1)[: tensor.numel()], absmax


def dequantize_blockwise(
    codes: Tensor,
    absmax: Tensor,
    code: Tensor,
    shape: torch.Size | tuple[int, ...],
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Tensor:
    """Inverse of :func:`quantize_blockwise` (up to the rounding): a float32 tensor of ``shape``."""
    count = codes.numel()
    values = _blocks(code[codes.long()], block_size) * absmax[:, None]
    return values.reshape(-1)[:count].view(shape)
