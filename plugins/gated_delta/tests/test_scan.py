"""The associative scan (dense and shared low-rank) against the plain loop."""

from __future__ import annotations

import pytest
import torch
from engrammar_gated_delta.ops.scan import affine_scan, low_rank_affine_scan, sequential_affine


def random_maps(batch, length, dim, rank, *, seed=0):
    gen = torch.Generator().manual_seed(seed)
    opts = {"generator": gen, "dtype": torch.float64}
    scale = torch.rand(batch, length, **opts)
    core = torch.randn(batch, length, rank, rank, **opts) * 0.3
    left = torch.randn(dim, rank, **opts) * 0.3
    right = torch.randn(dim, rank, **opts) * 0.3
    offsets = torch.randn(batch, length, dim, **opts)
    initial = torch.randn(batch, dim, **opts)
    return scale, core, left, right, offsets, initial


# lengths: odd and even at every level of the recursion
@pytest.mark.parametrize("length", [0, 1, 2, 3, 5, 8, 13, 64, 101])
@pytest.mark.parametrize("rank", [1, 3, 8])
def test_scans_match_the_loop_in_values_and_gradients(length, rank):
    maps = [t.requires_grad_() for t in random_maps(2, length, 8, rank, seed=length)]
    scale, core, left, right, offsets, initial = maps
    identity = torch.eye(8, dtype=torch.float64)
    dense = scale[..., None, None] * identity + left @ core @ right.transpose(0, 1)
    expected = sequential_affine(dense, offsets, initial)
    for got in (affine_scan(dense, offsets, initial), low_rank_affine_scan(*maps)):
        assert got.shape == (2, length, 8)
        assert (got - expected).abs().max().item() < 1e-12 if length else got.numel() == 0
    if length == 0:
        return
    weights = torch.randn(expected.shape, dtype=torch.float64)
    reference = torch.autograd.grad((expected * weights).sum(), maps)
    scanned = torch.autograd.grad((low_rank_affine_scan(*maps) * weights).sum(), maps)
    for ref, got in zip(reference, scanned):
        assert (ref - got).abs().max().item() < 1e-10
