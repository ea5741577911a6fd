"""Op-level functions, usable on their own: the naive oracle, masked full attention (fused
kernel), blocked sliding-window attention and the shared visibility rule.

Shapes: q (B, H, T, K); k (B, H, S + T, K) and v (B, H, S + T, V) hold S cached slots followed by
the T new tokens; ``first_visible`` (B, T) and ``span`` say which keys each query sees
(:mod:`.visibility`); persistent keys (H, P, K) and values (H, P, V) are seen by every query.
"""

from .full import full_attention
from .naive import naive_attention
from .sliding import sliding_window_attention
from .visibility import allowed_keys, segments

__all__ = [
    "allowed_keys",
    "full_attention",
    "naive_attention",
    "segments",
    "sliding_window_attention",
]
