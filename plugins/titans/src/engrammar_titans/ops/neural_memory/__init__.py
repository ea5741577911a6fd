"""Titans' long-term memory: the naive oracle, the step recurrence and the chunked parallel form."""

from .chunk import chunk_neural_memory
from .naive import naive_neural_memory
from .recurrent import neural_memory_step, recurrent_neural_memory

__all__ = ["chunk_neural_memory", "naive_neural_memory", "neural_memory_step", "recurrent_neural_memory"]
