"""The fused per-step path (interface activations + memory step as one autograd node): its hand
written backward against finite differences, and the whole step path against the unfused one in
values and gradients."""

from __future__ import annotations

import torch
from engrammar_dnc import DNC
from engrammar_dnc.fused import FusedInterfaceStep


def test_fused_interface_step_passes_gradcheck_for_every_input() -> None:
    batch, reads, cells, width, inputs = 2, 3, 5, 4, 7
    size = (reads + 2) * width + reads + 1 + width + reads + 2 + 3 * reads
    gen = torch.Generator().manual_seed(3)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, dtype=torch.float64, generator=gen)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=torch.float64, generator=gen)

    arguments = (
        randn(batch, inputs),
        randn(size, inputs),
        randn(size),
        randn(batch, cells, width),
        rand(batch, cells),
        torch.softmax(rand(batch, reads, cells), -1),
        torch.softmax(rand(batch, 1, cells), -1) * 0.5,
        rand(batch, 1, cells) * 0.2,
        rand(batch, 1, cells, cells) * 0.1,
    )
    arguments = tuple(a.requires_grad_(True) for a in arguments)
    assert torch.autograd.gradcheck(FusedInterfaceStep.apply, arguments)


def test_fused_step_path_equals_the_unfused_step_path_in_values_and_gradients() -> None:
    torch.manual_seed(0)
    memory = DNC(in_features=6, memory_size=8, word_size=4, num_reads=3).double()
    assert memory.fused_step  # the default layout takes the fused path
    x = torch.randn(3, 9, 6, dtype=torch.float64)
    weights = torch.randn(3, 9, memory.out_features, dtype=torch.float64)
    results = []
    for fused in (True, False):
        memory.fused_step = fused
        memory.zero_grad()
        state, outputs = None, []
        for t in range(x.shape[1]):
            y_t, state = memory.step(x[:, t], state)
            outputs.append(y_t)
        y = torch.stack(outputs, dim=1)
        (y * weights).sum().backward()
        results.append((y.detach(), {n: p.grad.clone() for n, p in memory.named_parameters()}))
    (y_fused, grads_fused), (y_plain, grads_plain) = results
    torch.testing.assert_close(y_fused, y_plain, atol=1e-12, rtol=1e-10)
    for name in grads_plain:
        torch.testing.assert_close(grads_fused[name], grads_plain[name], atol=1e-12, rtol=1e-10)
