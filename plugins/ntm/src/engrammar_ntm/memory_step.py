"""One NTM memory step (the fast path): the write heads address and write, then the read heads
address and read.

Writing first lets a read see this step's write (as in the DNC); both use last step's weightings
as the previous weighting of their interpolation. The oracle is
:func:`engrammar_ntm.naive.naive_memory_step`, which shares nothing with this path but the
interface.
"""

from __future__ import annotations

from engrammar.nn import read_memory, write_memory
from torch import Tensor

from .addressing import address
from .interface import HeadControls, NTMInterface

__all__ = ["memory_step"]


def _weights(memory: Tensor, previous: Tensor, controls: HeadControls) -> Tensor:
    return address(
        memory, previous, controls.keys, controls.strengths, controls.gates, controls.shifts, controls.sharpness
    )


def memory_step(state: dict, interface: NTMInterface) -> tuple[Tensor, dict]:
    """Advance the memory by one step. ``state``: ``memory`` (B, N, W), ``readers.weights``
    (B, R, N), ``writers.weights`` (B, H, N). Returns read vectors (B, R, W) and the new state."""
    memory = state["memory"]
    write_weights = _weights(memory, state["writers"]["weights"], interface.writes)
    memory = write_memory(memory, write_weights, interface.erase_vectors, interface.add_vectors)
    read_weights = _weights(memory, state["readers"]["weights"], interface.reads)
    reads = read_memory(memory, read_weights)
    return reads, {"memory": memory, "readers": {"weights": read_weights}, "writers": {"weights": write_weights}}
