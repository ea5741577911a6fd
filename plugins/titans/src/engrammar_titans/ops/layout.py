"""Where each token falls in the chunk grid, for a whole batch at once.

In these memories the chunk grid is part of the meaning: the gradients of a chunk's tokens are
all taken at the weights the chunk started from. The grid of a sample starts at its initial
state and restarts at each of its resets, and a state carries its ``position`` inside the current
chunk, so a call may start mid-chunk and samples of one batch may be at different phases.

:class:`ChunkLayout` maps every sample onto one common grid of chunks of C slots by giving each
token a slot index: a sample that enters at position p starts at slot p (its first p slots are
empty), and a reset moves the sample to the next chunk boundary (the slots skipped are empty).
Empty slots are "null tokens": the update rules treat them as doing nothing (no gradient, no decay,
no momentum step), so every chunk of the common grid is a true chunk of each sample's own grid,
and the chunked kernels run all samples together. A chunk ends in a commit (its weights become the
next chunk's anchor) only where its last slot holds a real token.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ChunkLayout"]


class ChunkLayout(NamedTuple):
    """Slots of the tokens of a (B, T) batch in a grid of ``chunk_size`` slots per chunk.

    slots: (B, T) int64, the slot of each token, or None when token t sits in slot t for every
    sample (the common case: no carried position, no reset). num_chunks: N, the grid covers
    N * chunk_size slots. real: (N, B, C) bool, which slots hold a token. resets: (N, B) bool,
    chunk n starts from the initial state. commits: (N, B) bool, chunk n's last slot is real.
    final_position: (B,) int64, the position inside its chunk after the last token.
    """

    slots: Tensor | None
    chunk_size: int
    num_chunks: int
    real: Tensor
    resets: Tensor
    commits: Tensor
    final_position: Tensor

    @classmethod
    def plan(cls, position: Tensor, resets: Tensor | None, length: int, chunk_size: int) -> ChunkLayout:
        """position (B,) int64 in [0, chunk_size); resets (B, T) bool or None."""
        batch = position.shape[0]
        device = position.device
        times = torch.arange(length, device=device)
        start = position.clone()
        reset_rows: Tensor | None = None
        if resets is not None and bool(resets.any()):
            reset_rows = resets
            start = torch.where(resets[:, 0], torch.zeros_like(start), start)  # a reset first drops the carried phase
        if reset_rows is None and not bool(start.any()):
            slots = None
            last_slot = torch.full((batch,), length - 1, dtype=torch.long, device=device)
        else:
            padding = torch.zeros(batch, length, dtype=torch.long, device=device)
            if reset_rows is not None:
                # each reset (after t = 0) skips to the next chunk boundary; skips add up in time order
                shift = torch.zeros(batch, dtype=torch.long, device=device)
                for t in torch.nonzero(reset_rows[:, 1:].any(0)).flatten().add(1).tolist():
                    gap = (-(start + t + shift)) % chunk_size
                    gap = torch.where(reset_rows[:, t], gap, torch.zeros_like(gap))
                    padding[:, t] = gap
                    shift = shift + gap
                padding = padding.cumsum(1)
            slots = start[:, None] + times[None] + padding
            last_slot = slots[:, -1]
        used = int(last_slot.max()) + 1 if length else 0
        num_chunks = -(-used // chunk_size)
        total = num_chunks * chunk_size
        if slots is None:
            real = torch.zeros(batch, total, dtype=torch.bool, device=device)
            real[:, :length] = True
        else:
            real = torch.zeros(batch, total, dtype=torch.bool, device=device).scatter_(1, slots, True)
        chunk_resets = torch.zeros(batch, num_chunks, dtype=torch.bool, device=device)
        if reset_rows is not None and slots is not None:
            rows, cols = torch.nonzero(reset_rows, as_tuple=True)
            chunk_resets[rows, slots[rows, cols] // chunk_size] = True
        real_chunks = real.view(batch, num_chunks, chunk_size)
        return cls(
            slots=slots,
            chunk_size=chunk_size,
            num_chunks=num_chunks,
            real=real_chunks.transpose(0, 1),
            resets=chunk_resets.transpose(0, 1),
            commits=real_chunks[:, :, -1].transpose(0, 1),
            final_position=(last_slot + 1) % chunk_size,
        )

    def to_chunks(self, x: Tensor) -> Tensor:
        """(B, T, H, ...) -> (N, B, H, C, ...), chunk-major and contiguous; empty slots are zeros."""
        batch, length = x.shape[:2]
        total = self.num_chunks * self.chunk_size
        if self.slots is None:
            pad = [0, 0] * (x.dim() - 2) + [0, total - length]
            grid = F.pad(x, pad)
        else:
            index = self.slots.reshape(batch, length, *([1] * (x.dim() - 2))).expand_as(x)
            grid = x.new_zeros(batch, total, *x.shape[2:]).scatter(1, index, x)
        grid = grid.reshape(batch, self.num_chunks, self.chunk_size, *x.shape[2:])
        order = (1, 0, 3, 2, *range(4, grid.dim()))
        return grid.permute(order).contiguous()

    def from_chunks(self, y: Tensor, length: int) -> Tensor:
        """(N, B, H, C, ...) -> (B, T, H, ...): each token's value back from its slot."""
        order = (1, 0, 3, 2, *range(4, y.dim()))
        grid = y.permute(order)  # (B, N, C, H, ...)
        batch = grid.shape[0]
        grid = grid.reshape(batch, self.num_chunks * self.chunk_size, *grid.shape[3:])
        if self.slots is None:
            return grid[:, :length]
        index = self.slots.reshape(batch, length, *([1] * (grid.dim() - 2))).expand(batch, length, *grid.shape[2:])
        return grid.gather(1, index)
