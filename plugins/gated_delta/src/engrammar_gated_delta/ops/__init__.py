"""Op-level functions, usable on their own: the naive oracle, the step recurrence, the chunked
(WY / UT) form of the gated delta rule, and the associative scan of affine maps."""

from .chunk import chunk_gated_delta_rule
from .naive import naive_gated_delta_rule
from .recurrent import gated_delta_step, recurrent_gated_delta_rule

__all__ = [
    "chunk_gated_delta_rule",
    "gated_delta_step",
    "naive_gated_delta_rule",
    "recurrent_gated_delta_rule",
]
