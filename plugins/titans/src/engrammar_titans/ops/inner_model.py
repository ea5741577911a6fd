"""The fast-weight model whose weights are the memory: an MLP per head, its inner loss, the
gradient of that loss written out by hand, and its read-out through per-token weights.

Symbols, per head (the inner model of Titans' long-term memory and of TTT layers):

    a_0 = x,   z_l = a_{l-1} W_l (+ b_l),   a_l = σ(z_l) for l < L,   g(x) = z_L
    f(x) = g(x)                            plain MLP (Titans; L = 1 is a matrix memory)
    f(x) = x + LN_{γ,β}(g(x))              residual and layer norm (TTT); γ, β are trained by the
                                           outer loop only, never by the inner one
    ℓ(W; k, v) = loss_scale · ‖f(k) − v‖²  the inner (associative) loss of one token
    ∇_{W_l} ℓ = a_{l-1}ᵀ δ_l,   ∇_{b_l} ℓ = δ_l,   δ_l = ∂ℓ/∂z_l

σ is the exact (erf) GELU. Weights are dicts ``{"w1": (..., d_0, d_1), "b1": (..., d_1), ...}``
with any leading batch dimensions: (B, H) in the fast paths, none inside ``torch.func``.

Per-token weights. Inside a chunk every update rule of this package (Titans' momentum and decay,
TTT's mini-batch gradient descent) gives the weights after token t as

    W(t) = Σ_r κ_r(t) X_r + Σ_{j ≤ t} c(t, j) ∇ℓ(A; k_j, v_j)

a mix of carried weight sets X_r (weights, momentum, a gradient sum) and of the chunk's token
gradients, all taken at the same anchor weights A. :meth:`InnerModel.read_through` evaluates
f(q_t) under W(t) without ever forming W(t): layer by layer, with h_{l-1}(t) the query's
activation entering layer l,

    z_l(t) = Σ_r κ_r(t) (h_{l-1}(t) X_{r,l} + b_{r,l}) + Σ_j c(t, j) (h_{l-1}(t) · a_{l-1,j} + 1) δ_{l,j}

(the "+ 1" only with biases): attention of the query's activations over the keys' activations
with weights c — the TTT paper's dual form, for any depth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["InnerModel", "Params", "combine", "mix", "select", "stack", "unstack", "weight_norm", "zeros_like_params"]

#: Fast weights by name ("w1", "b1", ...), each with the same leading batch dimensions.
Params = dict[str, Tensor]

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)


class _GeluDerivative(torch.autograd.Function):
    """GELU'(z) = Φ(z) + z φ(z) as one autograd node; its derivative is φ(z) (2 − z²)."""

    @staticmethod
    def forward(ctx: Any, z: Tensor) -> Tensor:
        ctx.save_for_backward(z)
        density = torch.exp(-0.5 * z * z) * _INV_SQRT_TWO_PI
        return 0.5 * (1.0 + torch.erf(z * _SQRT_HALF)) + z * density

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (z,) = ctx.saved_tensors
        return grad * torch.exp(-0.5 * z * z) * _INV_SQRT_TWO_PI * (2.0 - z * z)


def gelu_derivative(z: Tensor) -> Tensor:
    """d GELU(z) / dz for the exact GELU, z Φ(z): Φ(z) + z φ(z)."""
    return _GeluDerivative.apply(z)


@attrs.frozen
class InnerModel:
    """An MLP of ``len(widths) - 1`` layers, widths ``d_0 .. d_L``; see the module docstring."""

    widths: tuple[int, ...] = attrs.field(converter=tuple)
    bias: bool = False
    residual_norm: bool = False
    loss_scale: float = 1.0
    norm_eps: float = 1e-6

    def __attrs_post_init__(self) -> None:
        if len(self.widths) < 2:
            raise ValueError(f"an inner model needs at least one layer, got widths {self.widths}")
        if self.residual_norm and self.widths[0] != self.widths[-1]:
            raise ValueError(f"the residual needs equal input and output widths, got {self.widths}")

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-head shape of every weight, by name."""
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(1, self.depth + 1):
            shapes[f"w{layer}"] = (self.widths[layer - 1], self.widths[layer])
            if self.bias:
                shapes[f"b{layer}"] = (self.widths[layer],)
        return shapes

    # ---- evaluation --------------------------------------------------------------------------

    def _layer(self, params: Mapping[str, Tensor], layer: int, h: Tensor) -> Tensor:
        z = h @ params[f"w{layer}"]
        if self.bias:
            z = z + params[f"b{layer}"].unsqueeze(-2)
        return z

    def _finish(self, x: Tensor, g: Tensor, norm: tuple[Tensor, Tensor] | None) -> Tensor:
        if not self.residual_norm:
            return g
        assert norm is not None, "an inner model with residual_norm needs its (gamma, beta)"
        gamma, beta = norm
        centered = g - g.mean(-1, keepdim=True)
        normalized = centered * centered.pow(2).mean(-1, keepdim=True).add(self.norm_eps).rsqrt()
        return x + normalized * gamma + beta

    def forward(self, params: Mapping[str, Tensor], x: Tensor, norm: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """f(x) for x (..., C, d_0) under weights (..., d_{l-1}, d_l); returns (..., C, d_L).
        ``norm`` = (γ, β), broadcastable to the output (residual_norm only)."""
        h = x
        for layer in range(1, self.depth + 1):
            z = self._layer(params, layer, h)
            h = F.gelu(z) if layer < self.depth else z
        return self._finish(x, h, norm)

    def loss(
        self, params: Mapping[str, Tensor], key: Tensor, value: Tensor, norm: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        """ℓ(W; k, v) of one token: key (d_0,), value (d_L,), unbatched weights -> a scalar.
        The definition that ``torch.func.grad`` differentiates in the naive oracles."""
        prediction = self.forward(params, key[None], norm)[0]
        return self.loss_scale * (prediction - value).pow(2).sum()

    def gradients(
        self, params: Mapping[str, Tensor], keys: Tensor, values: Tensor, norm: tuple[Tensor, Tensor] | None = None
    ) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """Per-token gradient factors at ``params``: keys (..., C, d_0), values (..., C, d_L).

        Returns the layer inputs [a_0 .. a_{L-1}] (each (..., C, d_{l-1})), the output
        gradients [δ_1 .. δ_L] (each (..., C, d_l)) and each token's loss (..., C); token j's
        gradient is ∇W_l = a_{l-1,j}ᵀ δ_{l,j}, ∇b_l = δ_{l,j} (see :meth:`gradient_sum`).
        """
        inputs: list[Tensor] = []
        preactivations: list[Tensor] = []
        h = keys
        for layer in range(1, self.depth + 1):
            inputs.append(h)
            z = self._layer(params, layer, h)
            preactivations.append(z)
            h = F.gelu(z) if layer < self.depth else z
        if self.residual_norm:
            assert norm is not None, "an inner model with residual_norm needs its (gamma, beta)"
            gamma, beta = norm
            centered = h - h.mean(-1, keepdim=True)
            inv_std = centered.pow(2).mean(-1, keepdim=True).add(self.norm_eps).rsqrt()
            normalized = centered * inv_std
            error = keys + normalized * gamma + beta - values
            upstream = (2.0 * self.loss_scale) * error * gamma  # ∂ℓ/∂(normalized)
            delta = inv_std * (
                upstream - upstream.mean(-1, keepdim=True) - normalized * (upstream * normalized).mean(-1, keepdim=True)
            )
        else:
            error = h - values
            delta = (2.0 * self.loss_scale) * error
        losses = self.loss_scale * error.pow(2).sum(-1)
        deltas = [delta]
        for layer in range(self.depth - 1, 0, -1):
            delta = (delta @ params[f"w{layer + 1}"].transpose(-1, -2)) * gelu_derivative(preactivations[layer - 1])
            deltas.insert(0, delta)
        return inputs, deltas, losses

    def gradient_sum(self, inputs: Sequence[Tensor], deltas: Sequence[Tensor], weights: Tensor) -> Params:
        """Σ_j weights_j ∇ℓ_j over the C tokens. weights (..., C) gives weights-shaped leaves
        (..., d_{l-1}, d_l); weights (..., R, C) gives R sums at once, stacked: (..., R, d_{l-1}, d_l)."""
        stacked = weights.dim() > inputs[0].dim() - 1
        total: Params = {}
        for layer, (a, delta) in enumerate(zip(inputs, deltas), start=1):
            if stacked:
                # one product for all R sums: rows (j, r·d) = w_{r,j} a_j, then (R·d, C) @ (C, d_l)
                sets = weights.shape[-2]
                scaled = (weights.transpose(-1, -2).unsqueeze(-1) * a.unsqueeze(-2)).flatten(-2)
                product = scaled.transpose(-1, -2) @ delta  # (..., R·d_{l-1}, d_l)
                total[f"w{layer}"] = product.unflatten(-2, (sets, a.shape[-1]))
                if self.bias:
                    total[f"b{layer}"] = weights @ delta
                continue
            weighted = delta * weights.unsqueeze(-1)
            total[f"w{layer}"] = a.transpose(-1, -2) @ weighted
            if self.bias:
                total[f"b{layer}"] = weighted.sum(-2)
        return total

    def read_through(
        self,
        queries: Tensor,
        carried: tuple[Tensor, Mapping[str, Tensor]],
        mixing: Tensor,
        inputs: Sequence[Tensor],
        deltas: Sequence[Tensor],
        norm: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """f(q_t) under W(t) = Σ_r κ_r(t) X_r + Σ_j mixing(t, j) ∇ℓ_j, for each of the C queries.

        queries (..., C, d_0); carried: κ (..., R, C) and the R weight sets stacked,
        (..., R, d_{l-1}, d_l); mixing (..., C, C), zero above the diagonal for a causal read;
        inputs, deltas from :meth:`gradients` on the chunk's keys. Returns (..., C, d_L).
        """
        kappa, stack = carried
        h = queries
        for layer in range(1, self.depth + 1):
            z = (mixing * self._scores(h, inputs[layer - 1])) @ deltas[layer - 1]
            # Σ_r κ_r(t) h_t W_r as one product: rows (t, r·d) = κ_r(t) h_t against W stacked (R·d, d_l)
            weighted = (kappa.transpose(-1, -2).unsqueeze(-1) * h.unsqueeze(-2)).flatten(-2)
            z = z + weighted @ stack[f"w{layer}"].flatten(-3, -2)
            if self.bias:
                z = z + kappa.transpose(-1, -2) @ stack[f"b{layer}"]
            h = F.gelu(z) if layer < self.depth else z
        return self._finish(queries, h, norm)

    def _scores(self, h: Tensor, a: Tensor) -> Tensor:
        scores = h @ a.transpose(-1, -2)
        return scores + 1.0 if self.bias else scores


# ---- arithmetic on weight dicts ---------------------------------------------------------------


def _expand(coefficient: Tensor, like: Tensor) -> Tensor:
    return coefficient.reshape(*coefficient.shape, *([1] * (like.dim() - coefficient.dim())))


def combine(terms: Sequence[tuple[Tensor | float, Mapping[str, Tensor]]]) -> Params:
    """Σ coefficient · weights, leaf by leaf; a coefficient is a float or a tensor of the weights'
    leading batch dimensions, e.g. (B, H)."""
    total: Params = {}
    for coefficient, weights in terms:
        for name, tensor in weights.items():
            term = tensor * (_expand(coefficient, tensor) if isinstance(coefficient, Tensor) else coefficient)
            total[name] = term if name not in total else total[name] + term
    return total


def select(mask: Tensor, when_true: Mapping[str, Tensor], when_false: Mapping[str, Tensor]) -> Params:
    """Leaf by leaf, ``when_true`` where ``mask`` (B,) is true, else ``when_false``."""
    return {name: torch.where(_expand(mask, tensor), when_true[name], tensor) for name, tensor in when_false.items()}


def zeros_like_params(params: Mapping[str, Tensor]) -> Params:
    return {name: torch.zeros_like(tensor) for name, tensor in params.items()}


def stack(sets: Sequence[Mapping[str, Tensor]]) -> Params:
    """R weight sets -> one, each leaf (..., R, ...): stacked after the batch and head dimensions."""
    return {name: torch.stack([weights[name] for weights in sets], dim=2) for name in sets[0]}


def unstack(stacked: Mapping[str, Tensor], index: int) -> Params:
    """Weight set ``index`` of a stack (views, no copy)."""
    return {name: tensor[:, :, index] for name, tensor in stacked.items()}


def mix(matrix: Tensor, stacked: Mapping[str, Tensor], plus: Mapping[str, Tensor] | None = None) -> Params:
    """New weight sets as linear combinations of the stacked ones (plus ``plus``, stacked like the
    result): matrix (B, H, R', R) -> leaves (B, H, R', ...). One fused batched product per leaf."""
    batch, heads, rows, sets = matrix.shape
    flat_matrix = matrix.reshape(batch * heads, rows, sets)
    out: Params = {}
    for name, tensor in stacked.items():
        flat = tensor.reshape(batch * heads, sets, -1)
        if plus is None:
            product = flat_matrix @ flat
        else:
            product = torch.baddbmm(plus[name].reshape(batch * heads, rows, -1), flat_matrix, flat)
        out[name] = product.reshape(batch, heads, rows, *tensor.shape[3:])
    return out


def weight_norm(weights: Mapping[str, Tensor]) -> Tensor:
    """‖W‖ over every layer (no gradient), per sample and head: leaves (B, H, ...) -> (B, H)."""
    return torch.sqrt(sum(tensor.detach().pow(2).flatten(2).sum(-1) for tensor in weights.values()))
