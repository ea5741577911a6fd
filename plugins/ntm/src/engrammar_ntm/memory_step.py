"""One NTM memory step: the write heads address and write, then the read heads address and read.

Writing first lets a read see this step's write (as in the DNC); both use last step's weightings
as the previous weighting of their interpolation.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from . import addressing
from .interface import HeadControls, NTMInterface

__all__ = ["memory_step"]


def memory_step(state: dict, interface: NTMInterface, ops: object = addressing) -> tuple[Tensor, dict]:
    """Advance the memory by one step. ``state``: ``memory`` (B, N, W), ``readers.weights``
    (B, R, N), ``writers.weights`` (B, H, N). Returns read vectors (B, R, W) and the new state.

    ``ops`` is the module providing the addressing functions: :mod:`.addressing` (fast) or
    :mod:`.naive` (the oracle), which share this composition.
    """
    address: Callable[..., Tensor] = ops.address  # type: ignore[attr-defined]

    def weights(memory: Tensor, previous: Tensor, controls: HeadControls) -> Tensor:
        return address(
            memory, previous, controls.keys, controls.strengths, controls.gates, controls.shifts, controls.sharpness
        )

    memory = state["memory"]
    write_weights = weights(memory, state["writers"]["weights"], interface.writes)
    memory = ops.write_memory(memory, write_weights, interface.erase_vectors, interface.add_vectors)  # type: ignore[attr-defined]
    read_weights = weights(memory, state["readers"]["weights"], interface.reads)
    reads = ops.read_memory(memory, read_weights)  # type: ignore[attr-defined]
    return reads, {"memory": memory, "readers": {"weights": read_weights}, "writers": {"weights": write_weights}}
