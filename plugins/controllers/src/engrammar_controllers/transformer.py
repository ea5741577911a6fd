"""``transformer``: a causal pre-norm transformer whose state is its key/value cache.

The state holds, for every layer, the rotated keys and the values of the tokens seen so far (or of
the last ``window - 1`` tokens when a window is set, so the state has constant length), and each
sample's position. Whole sequences, chunks and single steps all run :meth:`Transformer._run`, which
attends over ``cache + new tokens`` with one mask that encodes causality, the window, the cache
slots still empty, and resets (a reset hides everything before it and restarts positions at 0).
The oracle in :mod:`engrammar_controllers.naive` recomputes every output from the whole prefix
without a cache.
"""

from __future__ import annotations

import attrs
import torch
from engrammar.component import Component
from engrammar.nn import rotary_angles
from engrammar.spec import ComponentSpec, between, field, ge, gt, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .attention import attention, rotate


@spec
class TransformerSpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(2), doc="model width (d_model) and output width")
    num_layers: int = field(default=2, validator=ge(1), doc="transformer blocks")
    num_heads: int = field(default=4, validator=ge(1), doc="attention heads; must divide hidden_size")
    dim_feedforward: int | None = field(
        default=None, validator=ge(1), doc="width of the feed-forward layer; None: 4 * hidden_size"
    )
    dropout: float = field(
        default=0.0, validator=between(0.0, 1.0), doc="dropout on attention and residual branches (training only)"
    )
    window: int | None = field(
        default=None,
        validator=ge(1),
        doc="attend to at most this many tokens, the current one included; the cache then keeps window - 1 tokens, so state is constant in length. None: unbounded cache",
    )
    rope_base: float = field(
        default=10000.0, validator=gt(1.0), doc="base of the rotary position embedding frequencies"
    )

    def __attrs_post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if (self.hidden_size // self.num_heads) % 2:
            raise ValueError(
                f"the head size hidden_size / num_heads ({self.hidden_size // self.num_heads}) must be even "
                "(rotary position embeddings rotate pairs)"
            )


class Block(nn.Module):
    """One pre-norm block: ``h + attention(norm(h))``, then ``h + feedforward(norm(h))``."""

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        width = spec.hidden_size
        self.num_heads = spec.num_heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_out = nn.Linear(width, width)
        self.feedforward_norm = nn.LayerNorm(width)
        inner = spec.dim_feedforward or 4 * width
        self.feedforward = nn.Sequential(nn.Linear(width, inner), nn.GELU(), nn.Linear(inner, width))
        self.dropout = nn.Dropout(spec.dropout)

    def forward(
        self, h: Tensor, cached_keys: Tensor, cached_values: Tensor, allowed: Tensor, cos: Tensor, sin: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``h`` (B, T, D), cache (B, S, D), ``allowed`` (B, T, S + T). Returns h and the keys and
        values of cache + new tokens, (B, S + T, D)."""
        queries, keys, values = self.qkv(self.attention_norm(h)).chunk(3, dim=-1)
        queries = rotate(queries, cos, sin, self.num_heads)
        keys = torch.cat([cached_keys.to(keys.dtype), rotate(keys, cos, sin, self.num_heads)], dim=1)
        values = torch.cat([cached_values.to(values.dtype), values], dim=1)
        dropout = self.dropout.p if self.training else 0.0
        mixed = attention(queries, keys, values, allowed, self.num_heads, dropout)
        h = h + self.dropout(self.attention_out(mixed))
        h = h + self.dropout(self.feedforward(self.feedforward_norm(h)))
        return h, keys, values


class Transformer(Component):
    """Causal transformer with rotary positions; state = key/value cache (bounded by an optional window)."""

    spec_cls = TransformerSpec
    spec: TransformerSpec

    def __init__(self, spec: TransformerSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.input_proj = nn.Linear(self.in_features, self.spec.hidden_size)
        self.blocks = nn.ModuleList([Block(self.spec) for _ in range(self.spec.num_layers)])
        self.final_norm = nn.LayerNorm(self.spec.hidden_size)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    @property
    def cache_length(self) -> int:
        """Slots of the initial cache: ``window - 1``, or 0 for an unbounded (growing) cache."""
        return 0 if self.spec.window is None else self.spec.window - 1

    def state_spec(self) -> dict[str, StateEntry]:
        # Without a window the cache length is a run-time dimension: 0 at first, one slot per
        # token; a sample's newest min(position, length) slots are its own, older ones padding.
        if self.spec.window is None:
            cache = StateEntry((self.spec.num_layers, "cache", self.spec.hidden_size), count="position")
        else:
            cache = StateEntry((self.spec.num_layers, self.cache_length, self.spec.hidden_size))
        return {
            "keys": attrs.evolve(cache, doc="rotated keys per layer, oldest slot first"),
            "values": attrs.evolve(cache, doc="values per layer, oldest slot first"),
            "position": StateEntry((), dtype="int64", doc="tokens seen since the last reset"),
        }

    # ---- the three entry points share one implementation -------------------------------------

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(x, state, None)

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._run(x, state, resets)

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = self._run(x_t[:, None], state, None)
        return y[:, 0], state

    def _run(self, x: Tensor, state: State, resets: Tensor | None) -> tuple[Tensor, State]:
        batch, length = x.shape[0], x.shape[1]
        cached_keys, cached_values, position = state["keys"], state["values"], state["position"]
        cache_length = cached_keys.shape[2]
        time = torch.arange(length, device=x.device)

        # Index every key by its place in cache + new tokens (0 .. S+T-1); query t sits at S + t.
        # A cache filled right-aligned holds min(position, S) valid slots at its end.
        first_cached = (cache_length - position.clamp(max=cache_length))[:, None].expand(batch, length)
        continued = position[:, None] + time
        if resets is None:
            first_valid, positions = first_cached, continued
        else:
            last_reset = torch.where(resets, time, -1).cummax(dim=1).values  # (B, T), -1: none yet
            after_reset = last_reset >= 0
            first_valid = torch.where(after_reset, cache_length + last_reset, first_cached)
            positions = torch.where(after_reset, time - last_reset, continued)
        key_index = torch.arange(cache_length + length, device=x.device)
        query_index = cache_length + time
        allowed = (key_index >= first_valid[..., None]) & (key_index <= query_index[:, None])
        if self.spec.window is not None:
            allowed = allowed & (key_index > (query_index - self.spec.window)[:, None])

        h = self.input_proj(x)
        cos, sin = rotary_angles(positions, self.spec.hidden_size // self.spec.num_heads, self.spec.rope_base, h.dtype)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            h, layer_keys, layer_values = block(h, cached_keys[:, layer], cached_values[:, layer], allowed, cos, sin)
            keys.append(layer_keys)
            values.append(layer_values)

        total = cache_length + length
        kept = total if self.spec.window is None else self.spec.window - 1
        # Slots from before the last reset are zeroed, so a state after a reset equals a fresh one.
        slot_valid = torch.arange(total - kept, total, device=x.device)[None] >= first_valid[:, -1:]
        slot_valid = slot_valid[:, None, :, None]  # (B, 1, kept, 1)
        new_keys = torch.stack(keys, dim=1)[:, :, total - kept :]
        new_values = torch.stack(values, dim=1)[:, :, total - kept :]
        zero = torch.zeros((), dtype=new_keys.dtype, device=x.device)
        new_state = {
            "keys": torch.where(slot_valid, new_keys, zero).to(cached_keys.dtype),
            "values": torch.where(slot_valid, new_values, zero).to(cached_values.dtype),
            "position": positions[:, -1] + 1,
        }
        return self.final_norm(h), new_state
