"""Readable references for the fast paths: the test oracles, never used for training.

- :func:`lstm_reference` / :func:`gru_reference`: the recurrences written out, one time step and
  one layer at a time, with the gate equations of the PyTorch documentation.
- :func:`transformer_reference`: every output recomputed from the whole prefix, without a cache,
  with explicit softmax attention and rotary embeddings as complex rotations.

Gates (σ = sigmoid, ⊙ = elementwise product)::

    LSTM: i, f, g, o = σ(W_ii x + b_ii + W_hi h + b_hi), σ(...), tanh(...), σ(...)
          c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
    GRU:  r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 - z) ⊙ n + z ⊙ h
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from .gru import GRU
from .lstm import LSTM
from .transformer import Block, Transformer


def lstm_reference(model: LSTM, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``x`` (B, T, in), ``h``/``c`` (B, L, H) -> outputs (B, T, H), final h, c. No dropout."""
    h_layers = list(h.unbind(1))
    c_layers = list(c.unbind(1))
    outputs = []
    for t in range(x.shape[1]):
        layer_input = x[:, t]
        for layer in range(model.spec.num_layers):
            w_ih, w_hh, b_ih, b_hh = model.layer_weights(layer)
            gates = layer_input @ w_ih.T + b_ih + h_layers[layer] @ w_hh.T + b_hh
            i, f, g, o = gates.chunk(4, dim=-1)
            c_layers[layer] = torch.sigmoid(f) * c_layers[layer] + torch.sigmoid(i) * torch.tanh(g)
            h_layers[layer] = torch.sigmoid(o) * torch.tanh(c_layers[layer])
            layer_input = h_layers[layer]
        outputs.append(layer_input)
    return torch.stack(outputs, 1), torch.stack(h_layers, 1), torch.stack(c_layers, 1)


def gru_reference(model: GRU, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """``x`` (B, T, in), ``h`` (B, L, H) -> outputs (B, T, H), final h. No dropout."""
    h_layers = list(h.unbind(1))
    outputs = []
    for t in range(x.shape[1]):
        layer_input = x[:, t]
        for layer in range(model.spec.num_layers):
            w_ih, w_hh, b_ih, b_hh = model.layer_weights(layer)
            from_input = (layer_input @ w_ih.T + b_ih).chunk(3, dim=-1)
            from_hidden = (h_layers[layer] @ w_hh.T + b_hh).chunk(3, dim=-1)
            reset = torch.sigmoid(from_input[0] + from_hidden[0])
            update = torch.sigmoid(from_input[1] + from_hidden[1])
            candidate = torch.tanh(from_input[2] + reset * from_hidden[2])
            h_layers[layer] = (1 - update) * candidate + update * h_layers[layer]
            layer_input = h_layers[layer]
        outputs.append(layer_input)
    return torch.stack(outputs, 1), torch.stack(h_layers, 1)


def _rotate_complex(x: Tensor, positions: Tensor, num_heads: int, base: float) -> Tensor:
    batch, length, width = x.shape
    head_size = width // num_heads
    heads = x.view(batch, length, num_heads, head_size)
    pairs = torch.complex(heads[..., : head_size // 2], heads[..., head_size // 2 :])
    frequencies = base ** (-torch.arange(head_size // 2, dtype=torch.float64) * 2.0 / head_size)
    angles = positions.to(torch.float64)[:, None] * frequencies  # (T, head_size/2)
    rotation = torch.polar(torch.ones_like(angles), angles).to(pairs.dtype)
    turned = pairs * rotation[None, :, None, :]
    return torch.cat([turned.real, turned.imag], dim=-1).reshape(batch, length, width)


def _softmax_attention(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor, num_heads: int) -> Tensor:
    batch, length, width = q.shape
    head_size = width // num_heads

    def heads(t: Tensor) -> Tensor:
        return t.view(batch, t.shape[1], num_heads, head_size).transpose(1, 2)

    scores = heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(head_size)
    scores = scores.masked_fill(~allowed, float("-inf"))
    return (scores.softmax(-1) @ heads(v)).transpose(1, 2).reshape(batch, length, width)


def transformer_reference(model: Transformer, x: Tensor) -> Tensor:
    """Outputs (B, T, D) from the initial state: each step recomputes the prefix, no cache, no dropout."""
    s = model.spec
    outputs = []
    for t in range(x.shape[1]):
        prefix = x[:, : t + 1]
        positions = torch.arange(t + 1)
        allowed = positions[None, :] <= positions[:, None]
        if s.window is not None:
            allowed = allowed & (positions[None, :] > positions[:, None] - s.window)
        h = model.input_proj(prefix)
        for module in model.blocks:
            block = cast(Block, module)
            q, k, v = block.qkv(block.attention_norm(h)).chunk(3, dim=-1)
            q = _rotate_complex(q, positions, s.num_heads, s.rope_base)
            k = _rotate_complex(k, positions, s.num_heads, s.rope_base)
            h = h + block.attention_out(_softmax_attention(q, k, v, allowed, s.num_heads))
            h = h + block.feedforward(block.feedforward_norm(h))
        outputs.append(model.final_norm(h)[:, -1])
    return torch.stack(outputs, dim=1)
