"""The seam-gated Z2-symmetric RNN, written literally: the readable definition and the test oracle.

Symbols (the seam-gated networks write-up), hidden width D (even), h split in halves (a, b):

    S = [[0, I], [I, 0]]                  the involution: swaps the two halves, S² = I
    P₊ = (I + S) / 2,  P₋ = (I − S) / 2   projectors on the even (S h = h) and odd (S h = −h) parts
    α(h) = ‖P₋ h‖² / (‖h‖² + ε)           parity energy: the share of h's energy in its odd part
    g(h) = sigmoid((α(h) − k*) / τ)       the seam gate, k* = 1 / (2 ln 2) by default
    W_comm = P₊ A₊ P₊ + P₋ A₋ P₋          a recurrent matrix that commutes with S
    h_t = tanh(W_comm h_{t−1} + W_in x_t + g(h_{t−1}) S W_flip h_{t−1})

No bias anywhere, tanh odd and α even (α(−h) = α(h)), so h_t(−x, −h₀) = −h_t(x, h₀). A reset at
step t replaces h_{t−1} by zeros. Every matrix is formed anew at every step, on purpose.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PARITY_EPSILON", "involution", "naive_parity_energy", "naive_z2_seam", "parity_projectors"]

#: ε in the parity energy's denominator: α(0) = 0 and the gradient stays finite at h = 0
PARITY_EPSILON = 1e-8


def involution(size: int, *, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
    """S (size, size): the permutation that swaps the first and second halves of a vector."""
    half = size // 2
    eye = torch.eye(half, dtype=dtype, device=device)
    zeros = torch.zeros(half, half, dtype=dtype, device=device)
    return torch.cat([torch.cat([zeros, eye], dim=1), torch.cat([eye, zeros], dim=1)], dim=0)


def parity_projectors(s: Tensor) -> tuple[Tensor, Tensor]:
    """(P₊, P₋) = ((I + S) / 2, (I − S) / 2) for an involution S."""
    eye = torch.eye(s.shape[0], dtype=s.dtype, device=s.device)
    return (eye + s) / 2, (eye - s) / 2


def naive_parity_energy(hidden: Tensor, p_minus: Tensor) -> Tensor:
    """α(h) = ‖P₋ h‖² / (‖h‖² + ε): hidden (..., D) -> (...), in [0, 1)."""
    odd = hidden @ p_minus.transpose(0, 1)
    return odd.square().sum(-1) / (hidden.square().sum(-1) + PARITY_EPSILON)


def naive_z2_seam(
    x: Tensor,
    a_plus: Tensor,
    a_minus: Tensor,
    w_flip: Tensor,
    w_in: Tensor,
    *,
    k_star: float,
    temperature: float,
    initial_state: Tensor | None = None,
    resets: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One step at a time. x (B, T, in); a_plus, a_minus, w_flip (D, D); w_in (D, in);
    initial_state (B, D) (zeros if None); resets (B, T) bool.

    Returns the hidden states (B, T, D), and the parity energy α(h_{t−1}) and gate g(h_{t−1}) that
    step t used, each (B, T)."""
    batch, length, _ = x.shape
    size = a_plus.shape[0]
    hidden = x.new_zeros(batch, size) if initial_state is None else initial_state
    states, energies, gates = [], [], []
    for t in range(length):
        if resets is not None:
            hidden = torch.where(resets[:, t, None], torch.zeros_like(hidden), hidden)
        s = involution(size, dtype=x.dtype, device=x.device)
        p_plus, p_minus = parity_projectors(s)
        w_comm = p_plus @ a_plus @ p_plus + p_minus @ a_minus @ p_minus
        energy = naive_parity_energy(hidden, p_minus)
        gate = torch.sigmoid((energy - k_star) / temperature)
        seam = s @ w_flip
        pre = hidden @ w_comm.T + x[:, t] @ w_in.T + gate[:, None] * (hidden @ seam.T)
        hidden = torch.tanh(pre)
        states.append(hidden)
        energies.append(energy)
        gates.append(gate)
    return torch.stack(states, 1), torch.stack(energies, 1), torch.stack(gates, 1)
