"""The seed's names, kept importable:

- ``Z2GatedDeltaRNN(input_dim, hidden_dim, delta_rank, use_parallel_scan)`` builds the registered
  ``gated_delta_rnn`` component with its Z2 symmetry on;
- ``Z2SeamGatedRNN(input_dim, hidden_dim, temperature, k_star, orthogonal_flip)`` builds the
  registered ``z2_seam`` component (``k_star=None`` means the default 1 / (2 ln 2))."""

from __future__ import annotations

from typing import Any

from .gated_delta_rnn import GatedDeltaRNN
from .z2_seam import K_STAR, Z2Seam

__all__ = ["Z2GatedDeltaRNN", "Z2SeamGatedRNN"]


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


def Z2SeamGatedRNN(
    input_dim: int,
    hidden_dim: int = 64,
    temperature: float = 0.05,
    k_star: float | None = None,
    orthogonal_flip: bool = False,
) -> Z2Seam:
    """A :class:`Z2Seam` with the seed's argument names."""
    return Z2Seam(
        in_features=input_dim,
        hidden_size=hidden_dim,
        temperature=temperature,
        k_star=K_STAR if k_star is None else k_star,
        orthogonal_flip=orthogonal_flip,
    )
