"""Weight initialisation schemes selectable by ``initialization`` (biases start at zero)."""

from __future__ import annotations

from torch import nn

__all__ = ["INITIALIZATIONS", "initialize_linear"]

INITIALIZATIONS = ("xavier", "kaiming", "orthogonal", "normal", "torch")


def initialize_linear(layer: nn.Linear, scheme: str) -> None:
    """Initialise ``layer.weight`` in place with ``scheme``; ``torch`` keeps PyTorch's default."""
    if scheme == "torch":
        return
    if scheme == "xavier":
        nn.init.xavier_uniform_(layer.weight)
    elif scheme == "kaiming":
        nn.init.kaiming_uniform_(layer.weight, nonlinearity="linear")
    elif scheme == "orthogonal":
        nn.init.orthogonal_(layer.weight)
    elif scheme == "normal":
        nn.init.normal_(layer.weight, std=0.02)
    else:
        raise ValueError(f"unknown initialization {scheme!r} (choose from {', '.join(INITIALIZATIONS)})")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
