"""Block-wise dynamic 8-bit quantisation: the code, the fast path against the naive arg-min, and
the round trip's error bound."""

from __future__ import annotations

import pytest
import torch
from engrammar_tricks.adamw8bit.naive import quantize_naive
from engrammar_tricks.adamw8bit.quantization import dequantize_blockwise, dynamic_code, quantize_blockwise


def _spread(count: int, signed: bool, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    values = (
        torch.randn(count, generator=generator)
        * torch.logspace(-6, 1, count)[torch.randperm(count, generator=generator)]
    )
    return values if signed else values.abs()


@pytest.mark.parametrize("signed", [True, False])
def test_the_code_has_256_distinct_sorted_values_with_zero(signed: bool) -> None:
    code = dynamic_code(signed)
    assert code.numel() == 256 and torch.all(code[1:] > code[:-1])
    assert 0.0 in code.tolist() and float(code.max()) <= 1.0
    assert (float(code.min()) < 0) == signed
    # 64 (signed) or 128 (unsigned) values in the top decade [0.1, 1]; the smallest magnitudes are tiny
    assert int(((code >= 0.1) & (code <= 1)).sum()) == (65 if signed else 128)
    assert float(code[code > 0].min()) < (1e-5 if signed else 1e-6)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize(("count", "block_size"), [(1000, 128), (300, 256), (5, 16)])
def test_the_fast_path_picks_the_nearest_code_as_the_naive_one_does(signed: bool, count: int, block_size: int) -> None:
    code = dynamic_code(signed)
    values = _spread(count, signed)
    codes, absmax = quantize_blockwise(values, code, block_size)
    naive_codes, naive_absmax = quantize_naive(values, code, block_size)
    assert codes.dtype == torch.uint8 and codes.shape == (count,)
    assert torch.equal(codes, naive_codes)
    assert torch.equal(absmax[: naive_absmax.numel()], naive_absmax)


@pytest.mark.parametrize("signed", [True, False])
def test_the_round_trip_error_is_within_half_a_code_gap_of_the_block_absmax(signed: bool) -> None:
    code = dynamic_code(signed)
    values = _spread(4096, signed, seed=1).view(64, 64)
    codes, absmax = quantize_blockwise(values, code, 256)
    restored = dequantize_blockwise(codes, absmax, code, values.shape, 256)
    scale = absmax.repeat_interleave(256)[: values.numel()].view_as(values)
    normalized = values / scale
    # each entry's error is at most half the gap between the two codes around it
    position = torch.bucketize(normalized, code).clamp(1, 255)
    half_gap = (code[position] - code[position - 1]) / 2
    assert torch.all((restored - values).abs() <= half_gap * scale * (1 + 1e-5) + 1e-12)
    # overall: the largest gap is in the top decade (0.9 / 64 signed, 0.9 / 128 unsigned)
    bound = (0.9 / (64 if signed else 128)) / 2 + 1e-3
    assert float(((restored - values).abs() / scale).max()) <= bound
    # relative error: at most 4.5 / 2^f in a decade with f fraction bits (0.07 at the top when
    # signed, 0.035 unsigned), doubling with every decade below
    relative = (restored - values).abs() / values.abs()
    top = 0.45 / (64 if signed else 128) / 0.1
    for decade in range(3):
        inside = (normalized.abs() >= 10.0 ** (-decade - 1)) & (normalized.abs() < 10.0**-decade)
        assert inside.any() and float(relative[inside].max()) <= top * 2**decade * (1 + 1e-4)


def test_zeros_and_a_zero_block_survive_exactly() -> None:
    values = torch.zeros(300)
    values[5] = 2.0
    code = dynamic_code(True)
    codes, absmax = quantize_blockwise(values, code, 256)
    assert absmax.tolist() == [2.0, 0.0]
    assert torch.equal(dequantize_blockwise(codes, absmax, code, values.shape, 256), values)
