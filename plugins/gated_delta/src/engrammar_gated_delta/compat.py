"""The seed's names, kept importable: ``Z2GatedDeltaRNN(input_dim, hidden_dim, delta_rank,
use_parallel_scan)`` builds the registered ``gated_delta_rnn`` component with its Z2 symmetry on."""

from __future__ import annotations

from typing import Any

from .gated_delta_rnn import GatedDeltaRNN

__all__ = ["Z2GatedDeltaRNN"]


def Z2GatedDeltaRNN(
    input_dim: int,
    hidden_dim: int,
    delta_rank: int = 8,
    use_parallel_scan: bool = True,
    **fields: Any,
) -> GatedDeltaRNN:
    """A :class:`GatedDeltaRNN` with the seed's argument names (``z2_symmetric`` defaults to True)."""
    fields.setdefault("z2_symmetric", True)
    return GatedDeltaRNN(
        in_features=input_dim,
        hidden_size=hidden_dim,
        delta_rank=delta_rank,
        use_parallel_scan=use_parallel_scan,
        **fields,
    )
