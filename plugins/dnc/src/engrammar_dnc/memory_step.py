"""One DNC memory step: free, allocate, write, link, read — composed from :mod:`.addressing` and
core's :mod:`engrammar.nn` (content addressing, sharpening, erase/add, read).

The step order is the paper's: usage is updated with last step's weightings, the write happens with
the new allocation and this step's content key, the link and precedence follow the write, and the
reads address the memory just written. :func:`engrammar_dnc.naive.naive_memory_step` is its oracle.
"""

from __future__ import annotations

import torch
from engrammar.nn import content_weights, read_memory, sharpen, write_memory
from torch import Tensor

from .addressing import (
    directional_weights,
    read_weightings,
    update_link,
    update_precedence,
    update_usage,
    write_allocation_weights,
)
from .fused import FusedMemoryStep
from .interface import DNCInterface

__all__ = ["composed_memory_step", "fused_memory_step", "memory_step"]


def memory_step(state: dict, interface: DNCInterface) -> tuple[Tensor, dict]:
    """Advance the memory state by one step: the fused single-function step when it applies (one
    write head, no γ sharpening), the composed step otherwise. Same arguments and results as
    :func:`composed_memory_step`."""
    if interface.write_keys.shape[1] == 1 and interface.read_sharpness is None and interface.write_sharpness is None:
        return fused_memory_step(state, interface)
    return composed_memory_step(state, interface)


def fused_memory_step(state: dict, interface: DNCInterface) -> tuple[Tensor, dict]:
    """One step through :class:`engrammar_dnc.fused.FusedMemoryStep` (one write head, no sharpening)."""
    writers = state["writers"]
    erase = interface.erase_vectors
    reads, memory, usage, read_weights, write_weights, precedence, link = FusedMemoryStep.apply(
        state["memory"],
        state["usage"],
        state["readers"]["weights"],
        writers["weights"].squeeze(1),  # squeeze, not [:, 0]: its backward is a view, not a zero-fill
        writers["precedence"].squeeze(1),
        writers["link"].squeeze(1),
        interface.read_keys,
        interface.read_strengths,
        interface.write_keys,
        interface.write_strengths,
        None if erase is None else erase.squeeze(1),
        interface.write_vectors.squeeze(1),
        interface.free_gates,
        interface.allocation_gates,
        interface.write_gates,
        interface.read_modes,
    )
    new_state = {
        "memory": memory,
        "usage": usage,
        "readers": {"weights": read_weights},
        "writers": {
            "weights": write_weights.unsqueeze(1),
            "precedence": precedence.unsqueeze(1),
            "link": link.unsqueeze(1),
        },
    }
    return reads, new_state


def composed_memory_step(state: dict, interface: DNCInterface) -> tuple[Tensor, dict]:
    """Advance the memory state by one step, composed from vectorised functions (any head count).

    ``state`` holds ``memory`` (B, N, W), ``usage`` (B, N), ``readers.weights`` (B, R, N) and
    ``writers.{weights, precedence}`` (B, H, N), ``writers.link`` (B, H, N, N).
    Returns the read vectors (B, R, W) and the new state (same structure, new tensors).
    """
    memory, readers, writers = state["memory"], state["readers"], state["writers"]
    usage = update_usage(state["usage"], writers["weights"], interface.free_gates, readers["weights"])

    write_content = content_weights(memory, interface.write_keys, interface.write_strengths)
    allocation = write_allocation_weights(usage, interface.write_gates * interface.allocation_gates)
    # w = g_w (g_a a + (1 - g_a) c), the interpolation as one lerp
    mixed = torch.lerp(write_content, allocation, interface.allocation_gates[..., None])
    write_weights = interface.write_gates[..., None] * mixed
    if interface.write_sharpness is not None:
        write_weights = sharpen(write_weights, interface.write_sharpness, keep_mass=True)
    memory = write_memory(memory, write_weights, interface.erase_vectors, interface.write_vectors)

    link = update_link(writers["link"], writers["precedence"], write_weights)
    precedence = update_precedence(writers["precedence"], write_weights)

    directional = directional_weights(link, readers["weights"])  # (B, R, 2H, N): backward, forward
    read_content = content_weights(memory, interface.read_keys, interface.read_strengths)
    read_weights = read_weightings(directional, read_content, interface.read_modes)
    if interface.read_sharpness is not None:
        read_weights = sharpen(read_weights, interface.read_sharpness, keep_mass=True)

    new_state = {
        "memory": memory,
        "usage": usage,
        "readers": {"weights": read_weights},
        "writers": {"weights": write_weights, "precedence": precedence, "link": link},
    }
    return read_memory(memory, read_weights), new_state
