"""TTT layers' inner loop: the naive oracle, the step recurrence and the chunked dual form."""

from .chunk import chunk_ttt
from .naive import naive_ttt
from .recurrent import recurrent_ttt, ttt_step

__all__ = ["chunk_ttt", "naive_ttt", "recurrent_ttt", "ttt_step"]
