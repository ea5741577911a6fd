"""The DNC memory step as one autograd function with a hand-written backward (the fast path).

For one write head and no γ sharpening (the paper's DNC and the default spec), the whole step —
usage, allocation, content write weighting, erase/add, link and precedence, directional and content
read weightings, reads — runs as a single ``torch.autograd.Function``. The forward records no
autograd graph and the backward is the chain rule written out by hand, reusing forward
intermediates: a fraction of the kernels autograd would run for the same step (the step's cost on
CPU is dominated by per-kernel overhead, not arithmetic). It computes exactly what
:func:`engrammar_dnc.memory_step.composed_memory_step` computes; tests check both against the naive
oracle in values and gradients, and the function itself with float64 ``gradcheck``. Content
addressing's forward and hand-written backward are core's (:func:`engrammar.nn.content_weights_forward`,
:func:`engrammar.nn.content_weights_backward`).

First-order gradients only (the backward is not itself differentiable).
"""

from __future__ import annotations

from typing import Any

import torch
from engrammar.nn import NORM_EPSILON, content_weights_backward, content_weights_forward
from torch import Tensor

from .addressing import ALLOCATION_EPSILON, free_list

__all__ = ["FusedInterfaceStep", "FusedMemoryStep", "constants"]

_CONSTANTS: dict[tuple[torch.dtype, torch.device], tuple[Tensor, Tensor, Tensor, Tensor]] = {}


def constants(like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """0-dim tensors (1, ε_norm, ε_alloc, 1 - ε_alloc) in ``like``'s dtype and device, made once.

    Arithmetic with a Python float wraps it into a fresh tensor on every call, which on CPU costs
    more than the small operation itself; these constants are never written to.
    """
    key = (like.dtype, like.device)
    found = _CONSTANTS.get(key)
    if found is None:
        values = (1.0, NORM_EPSILON, ALLOCATION_EPSILON, 1.0 - ALLOCATION_EPSILON)
        found = tuple(torch.tensor(v, dtype=like.dtype, device=like.device) for v in values)  # type: ignore[assignment]
        _CONSTANTS[key] = found  # type: ignore[assignment]
    return found  # type: ignore[return-value]


class FusedMemoryStep(torch.autograd.Function):
    """One DNC step for one write head. Inputs (batch first; R read heads, N cells, width W)::

        memory (B, N, W), usage (B, N), read_weights (B, R, N), write_weights (B, N),
        precedence (B, N), link (B, N, N), read_keys (B, R, W), read_strengths (B, R),
        write_keys (B, 1, W), write_strengths (B, 1), erase_vector (B, W) or None,
        write_vector (B, W), free_gates (B, R), allocation_gate (B, 1), write_gate (B, 1),
        read_modes (B, R, 3) (backward, forward, content)

    Outputs: reads (B, R, W), memory, usage, read_weights, write_weights, precedence, link (new).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        memory: Tensor,
        usage: Tensor,
        read_weights: Tensor,
        write_weights: Tensor,
        precedence: Tensor,
        link: Tensor,
        read_keys: Tensor,
        read_strengths: Tensor,
        write_keys: Tensor,
        write_strengths: Tensor,
        erase_vector: Tensor | None,
        write_vector: Tensor,
        free_gates: Tensor,
        allocation_gate: Tensor,
        write_gate: Tensor,
        read_modes: Tensor,
    ) -> tuple[Tensor, ...]:
        one, norm_epsilon, allocation_epsilon, allocation_scale = constants(memory)
        # usage: u + w - u w, then retention Π_r (1 - f_r w_r)
        kept = torch.addcmul(one, free_gates.unsqueeze(2), read_weights, value=-1.0)  # (B, R, N)
        retention = torch.prod(kept, dim=1)  # no autograd here: prod's slow backward never runs
        written = torch.addcmul(usage + write_weights, usage, write_weights, value=-1.0)
        new_usage = written * retention

        # write weighting: allocation and content, interpolated and gated
        write_content, write_cache = content_weights_forward(memory, write_keys, write_strengths, norm_epsilon)
        write_content = write_content.squeeze(1)
        shifted_usage = torch.addcmul(allocation_epsilon, new_usage, allocation_scale)
        order = free_list(shifted_usage)
        sorted_usage = shifted_usage.gather(-1, order)
        used_before = torch.cat(
            [one.expand(sorted_usage.shape[0], 1), sorted_usage.narrow(1, 0, sorted_usage.shape[1] - 1)], dim=1
        )
        used_before = torch.cumprod(used_before, dim=-1)
        sorted_allocation = torch.addcmul(used_before, sorted_usage, used_before, value=-1.0)  # (1 - s) Π
        allocation = torch.empty_like(new_usage).scatter_(-1, order, sorted_allocation)  # a permutation: fills all
        mixed = torch.lerp(write_content, allocation, allocation_gate)
        new_write = write_gate * mixed

        # erase and add
        column = new_write.unsqueeze(2)
        added = column * write_vector.unsqueeze(1)
        if erase_vector is not None:
            erased = column * erase_vector.unsqueeze(1)
            new_memory = torch.addcmul(memory + added, memory, erased, value=-1.0)
        else:
            erased = None
            new_memory = memory + added

        # temporal link and precedence
        row = new_write.unsqueeze(1)
        new_link = torch.addcmul(link, column + row, link, value=-1.0)
        new_link = torch.addcmul(new_link, column, precedence.unsqueeze(1))
        new_link.diagonal(dim1=-2, dim2=-1).zero_()
        new_precedence = torch.addcmul(precedence + new_write, new_write.sum(-1, keepdim=True), precedence, value=-1.0)

        # read weightings and reads
        backward_weights = torch.bmm(read_weights, new_link)  # Σ_j w[j] L[j, i]
        forward_weights = torch.bmm(read_weights, new_link.transpose(1, 2))  # Σ_j L[i, j] w[j]
        read_content, read_cache = content_weights_forward(new_memory, read_keys, read_strengths, norm_epsilon)
        candidates = torch.stack([backward_weights, forward_weights, read_content], dim=2)  # (B, R, 3, N)
        new_read = torch.matmul(read_modes.unsqueeze(2), candidates).squeeze(2)
        reads = torch.bmm(new_read, new_memory)

        ctx.has_erase = erase_vector is not None
        # Inputs and outputs go through save_for_backward (version checks, no reference cycles);
        # intermediates made here, which nothing else can see or modify, ride on ctx directly.
        ctx.write_cache = write_cache
        ctx.read_cache = read_cache
        ctx.intermediates = (
            kept, retention, written, write_content, sorted_usage, order, used_before, sorted_allocation,
            allocation, mixed, erased, candidates,
        )  # fmt: skip
        ctx.save_for_backward(
            memory, usage, read_weights, write_weights, precedence, link, read_keys, read_strengths,
            write_keys, write_strengths, erase_vector, write_vector, free_gates, allocation_gate, write_gate,
            read_modes, new_write, new_memory, new_link, new_read,
        )  # fmt: skip
        return reads, new_memory, new_usage, new_read, new_write, new_precedence, new_link

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any,
        grad_reads: Tensor,
        grad_memory_out: Tensor,
        grad_usage_out: Tensor,
        grad_read_out: Tensor,
        grad_write_out: Tensor,
        grad_precedence_out: Tensor,
        grad_link_out: Tensor,
    ) -> tuple[Tensor | None, ...]:
        (
            memory, usage, read_weights, write_weights, precedence, link, read_keys, read_strengths,
            write_keys, write_strengths, erase_vector, write_vector, free_gates, allocation_gate, write_gate,
            read_modes, new_write, new_memory, new_link, new_read,
        ) = ctx.saved_tensors  # fmt: skip
        (
            kept, retention, written, write_content, sorted_usage, order, used_before, sorted_allocation,
            allocation, mixed, erased, candidates,
        ) = ctx.intermediates  # fmt: skip
        read_content = candidates.select(2, 2)

        one, _, _, allocation_scale = constants(memory)
        # reads = w_r M'
        grad_read = torch.baddbmm(grad_read_out, grad_reads, new_memory.transpose(1, 2))
        grad_new_memory = torch.baddbmm(grad_memory_out, new_read.transpose(1, 2), grad_reads)

        # read weighting = π_b b + π_f f + π_c c, candidates (B, R, 3, N) = [b, f, c]
        grad_modes = torch.matmul(candidates, grad_read.unsqueeze(3)).squeeze(3)
        grad_candidates = read_modes.unsqueeze(3) * grad_read.unsqueeze(2)
        grad_backward_weights, grad_forward_weights, grad_read_content = grad_candidates.unbind(2)
        grad_memory_c, grad_read_keys, grad_read_strengths = content_weights_backward(
            grad_read_content, read_content, new_memory, read_keys, read_strengths, ctx.read_cache
        )
        grad_new_memory = grad_new_memory + grad_memory_c

        # directional weightings through the new link
        grad_link_total = torch.baddbmm(grad_link_out, read_weights.transpose(1, 2), grad_backward_weights)
        grad_link_total = torch.baddbmm(grad_link_total, grad_forward_weights.transpose(1, 2), read_weights)
        grad_read_weights = torch.baddbmm(
            torch.bmm(grad_backward_weights, new_link.transpose(1, 2)), grad_forward_weights, new_link
        )

        # link: L' = ((1 - w_i - w_j) L + w_i p_j) off the diagonal
        grad_link_total.diagonal(dim1=-2, dim2=-1).zero_()  # a fresh tensor of ours
        column, row = new_write.unsqueeze(2), new_write.unsqueeze(1)
        grad_link = torch.addcmul(grad_link_total, grad_link_total, column + row, value=-1.0)
        weighted_link = grad_link_total * link
        grad_write = (
            torch.bmm(grad_link_total, precedence.unsqueeze(2)).squeeze(2)
            - weighted_link.sum(-1)
            - weighted_link.sum(1)
        )
        grad_precedence = torch.bmm(row, grad_link_total).squeeze(1)

        # precedence: p' = (1 - Σ w) p + w
        grad_precedence = torch.addcmul(
            grad_precedence + grad_precedence_out, grad_precedence_out, new_write.sum(-1, keepdim=True), value=-1.0
        )
        grad_write = grad_write + grad_precedence_out - (grad_precedence_out * precedence).sum(-1, keepdim=True)

        # memory: M' = M - M ∘ (w eᵀ) + w vᵀ
        grad_write = grad_write + grad_write_out + torch.bmm(grad_new_memory, write_vector.unsqueeze(2)).squeeze(2)
        grad_write_vector = torch.bmm(row, grad_new_memory).squeeze(1)
        grad_erase: Tensor | None = None
        if ctx.has_erase:
            grad_memory = torch.addcmul(grad_new_memory, grad_new_memory, erased, value=-1.0)
            grad_keep_memory = grad_new_memory * memory
            grad_write = grad_write - torch.bmm(grad_keep_memory, erase_vector.unsqueeze(2)).squeeze(2)
            grad_erase = torch.bmm(row, grad_keep_memory).squeeze(1).neg()
        else:
            grad_memory = grad_new_memory

        # write weighting: w = g_w (c + g_a (a - c))
        grad_write_gate = (grad_write * mixed).sum(-1, keepdim=True)
        grad_mixed = write_gate * grad_write
        grad_allocation = allocation_gate * grad_mixed
        grad_write_content = grad_mixed - grad_allocation
        grad_allocation_gate = (grad_mixed * (allocation - write_content)).sum(-1, keepdim=True)

        # allocation: a[φ_j] = (1 - s_j) Π_{i<j} s_i over the sorted usage s
        grad_sorted = grad_allocation.gather(-1, order)
        contribution = grad_sorted * sorted_allocation
        later = contribution.flip(-1).cumsum(-1).flip(-1) - contribution  # Σ_{k>j}
        grad_sorted_usage = torch.addcmul(later / sorted_usage, used_before, grad_sorted, value=-1.0)
        grad_new_usage = torch.addcmul(
            grad_usage_out, torch.empty_like(usage).scatter_(-1, order, grad_sorted_usage), allocation_scale
        )

        # write content weighting on the old memory
        grad_memory_c, grad_write_keys, grad_write_strengths = content_weights_backward(
            grad_write_content.unsqueeze(1),
            write_content.unsqueeze(1),
            memory,
            write_keys,
            write_strengths,
            ctx.write_cache,
        )
        grad_memory = grad_memory + grad_memory_c

        # usage: u' = (u + w - u w) Π_r k_r with k_r = 1 - f_r w_r
        grad_written = grad_new_usage * retention
        grad_retention = grad_new_usage * written
        reads = kept.shape[1]
        if reads == 1:
            grad_kept = grad_retention.unsqueeze(1)
        else:
            ones = one.expand(kept.shape[0], 1, kept.shape[2])
            before = torch.cumprod(torch.cat([ones, kept.narrow(1, 0, reads - 1)], dim=1), dim=1)  # Π_{r'<r}
            after = torch.cumprod(torch.cat([ones, kept.narrow(1, 1, reads - 1).flip(1)], dim=1), dim=1).flip(1)
            grad_kept = grad_retention.unsqueeze(1) * (before * after)  # Π_{r'≠r}
        grad_free_gates = (grad_kept * read_weights).sum(-1).neg()
        grad_read_weights = torch.addcmul(grad_read_weights, grad_kept, free_gates.unsqueeze(2), value=-1.0)
        grad_usage = torch.addcmul(grad_written, grad_written, write_weights, value=-1.0)
        grad_write_weights = torch.addcmul(grad_written, grad_written, usage, value=-1.0)

        return (
            grad_memory, grad_usage, grad_read_weights, grad_write_weights, grad_precedence, grad_link,
            grad_read_keys, grad_read_strengths, grad_write_keys, grad_write_strengths, grad_erase,
            grad_write_vector, grad_free_gates, grad_allocation_gate, grad_write_gate, grad_modes,
        )  # fmt: skip


class _InnerContext:
    """Stands in for an autograd ctx when :class:`FusedMemoryStep`'s forward and backward are called
    from inside another Function (no autograd bookkeeping of their own)."""

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        self.saved_tensors = tensors


class FusedInterfaceStep(torch.autograd.Function):
    """The interface activations and :class:`FusedMemoryStep` as one autograd node, for one step.

    Applies only to the default layout (one write head, learned β, no γ, erasure, sigmoid gates,
    see :func:`fused_interface_applies`): ξ is laid out as [read keys R·W, write key W, write vector
    W | read strengths R, write strength 1 (oneplus) | erase W, free R, allocation 1, write 1
    (sigmoid) | read modes R·3 (softmax over each head's 3)]. Per step this replaces about two dozen
    small autograd nodes (projection, splits, reshapes, activations, squeezes) with one; the
    activations' derivatives are written out in the backward. Inputs: the DNC's input x (B, D),
    the interface projection's weight (size, D) and bias (size,) (ξ = x Wᵀ + b), the state tensors as the
    component holds them (write weights and precedence (B, 1, N), link (B, 1, N, N)); outputs as
    :class:`FusedMemoryStep`'s, with the read vectors flattened to (B, R·W) and the writer
    entries keeping their head dimension.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor,
        memory: Tensor,
        usage: Tensor,
        read_weights: Tensor,
        write_weights: Tensor,
        precedence: Tensor,
        link: Tensor,
    ) -> tuple[Tensor, ...]:
        flat = torch.addmm(bias, x, weight.t())  # ξ = x Wᵀ + b, the interface projection
        batch, reads, width = flat.shape[0], read_weights.shape[1], memory.shape[2]
        one = constants(flat)[0]
        keys_end = (reads + 2) * width
        raw_strengths = flat.narrow(1, keys_end, reads + 1)
        gated = torch.sigmoid(flat.narrow(1, keys_end + reads + 1, width + reads + 2))  # erase + gates
        strengths = torch.nn.functional.softplus(raw_strengths) + one
        modes = torch.softmax(flat.narrow(1, keys_end + 2 * reads + width + 3, 3 * reads).view(batch, reads, 3), -1)
        keys = flat.narrow(1, 0, keys_end)
        inner = _InnerContext()
        outputs = FusedMemoryStep.forward(
            inner,
            memory,
            usage,
            read_weights,
            write_weights.squeeze(1),
            precedence.squeeze(1),
            link.squeeze(1),
            keys.narrow(1, 0, reads * width).view(batch, reads, width),
            strengths.narrow(1, 0, reads),
            keys.narrow(1, reads * width, width).view(batch, 1, width),
            strengths.narrow(1, reads, 1),
            gated.narrow(1, 0, width),
            keys.narrow(1, (reads + 1) * width, width),
            gated.narrow(1, width, reads),
            gated.narrow(1, width + reads, 1),
            gated.narrow(1, width + reads + 1, 1),
            modes,
        )
        ctx.inner = inner
        ctx.activations = (raw_strengths, gated, modes)
        ctx.shape = (batch, reads, width)
        ctx.projection = (x, weight)
        reads_out, new_memory, new_usage, new_read, new_write, new_precedence, new_link = outputs
        return (
            reads_out.view(batch, reads * width), new_memory, new_usage, new_read,
            new_write.unsqueeze(1), new_precedence.unsqueeze(1), new_link.unsqueeze(1),
        )  # fmt: skip

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any,
        grad_reads: Tensor,
        grad_memory_out: Tensor,
        grad_usage_out: Tensor,
        grad_read_out: Tensor,
        grad_write_out: Tensor,
        grad_precedence_out: Tensor,
        grad_link_out: Tensor,
    ) -> tuple[Tensor | None, ...]:
        batch, reads, width = ctx.shape
        raw_strengths, gated, modes = ctx.activations
        (
            grad_memory, grad_usage, grad_read_weights, grad_write_weights, grad_precedence, grad_link,
            grad_read_keys, grad_read_strengths, grad_write_keys, grad_write_strengths, grad_erase,
            grad_write_vector, grad_free_gates, grad_allocation_gate, grad_write_gate, grad_modes,
        ) = FusedMemoryStep.backward(
            ctx.inner, grad_reads.view(batch, reads, width), grad_memory_out, grad_usage_out, grad_read_out,
            grad_write_out.squeeze(1), grad_precedence_out.squeeze(1), grad_link_out.squeeze(1),
        )  # fmt: skip
        # oneplus' = sigmoid; sigmoid' = s (1 - s); softmax' = s (g - Σ g s)
        grad_strengths = torch.cat([grad_read_strengths, grad_write_strengths], dim=1) * torch.sigmoid(raw_strengths)
        grad_gated = torch.cat([grad_erase, grad_free_gates, grad_allocation_gate, grad_write_gate], dim=1)
        grad_gated = grad_gated * torch.addcmul(gated, gated, gated, value=-1.0)
        grad_raw_modes = modes * (grad_modes - (grad_modes * modes).sum(-1, keepdim=True))
        grad_flat = torch.cat(
            [
                grad_read_keys.reshape(batch, reads * width),
                grad_write_keys.reshape(batch, width),
                grad_write_vector,
                grad_strengths,
                grad_gated,
                grad_raw_modes.reshape(batch, 3 * reads),
            ],
            dim=1,
        )
        x, weight = ctx.projection
        return (
            grad_flat.mm(weight) if ctx.needs_input_grad[0] else None,
            grad_flat.t().mm(x) if ctx.needs_input_grad[1] else None,
            grad_flat.sum(0) if ctx.needs_input_grad[2] else None,
            grad_memory, grad_usage, grad_read_weights, grad_write_weights.unsqueeze(1),
            grad_precedence.unsqueeze(1), grad_link.unsqueeze(1),
        )  # fmt: skip
