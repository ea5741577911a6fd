"""Op-level functions, usable on their own: for Titans' long-term memory and for TTT, a naive
oracle (``torch.func`` per token), the step recurrence and the chunked parallel form; the inner
model they share and the chunk layout."""

from .inner_model import InnerModel
from .layout import ChunkLayout
from .neural_memory import chunk_neural_memory, naive_neural_memory, neural_memory_step, recurrent_neural_memory
from .state import initial_memory_state, initial_ttt_state, reset_state
from .ttt import chunk_ttt, naive_ttt, recurrent_ttt, ttt_step

__all__ = [
    "ChunkLayout",
    "InnerModel",
    "chunk_neural_memory",
    "chunk_ttt",
    "initial_memory_state",
    "initial_ttt_state",
    "naive_neural_memory",
    "naive_ttt",
    "neural_memory_step",
    "recurrent_neural_memory",
    "recurrent_ttt",
    "reset_state",
    "ttt_step",
]
