"""``RealNet``: one fully connected recurrent layer of N neurons, run for a chosen number of
thinking steps (the documented class of RealNet's documentation, ``realnet.core.network``).

    model = RealNet(3, [0, 1], [2])                     # 2 input neurons, 1 output neuron
    all_states, final_state = model(x, steps=5)          # x (B, 2): (B, 5, 3), (B, 3)

The update rule is :func:`engrammar_realnet.dynamics.think`. The input reaches the network in one
of three ways, chosen by its shape and ``pulse_mode``:

- pulse (``pulse_mode=True``, x (B, D)): the input drives step 0 only; the other steps think;
- continuous (``pulse_mode=False``, x (B, D)): the same input drives every step;
- sequential (x (B, T) token ids, or (B, T, D) vectors): token k drives step k·r, where
  r = max(steps // T, 1); the r − 1 steps after each token are silent (100 tokens over 500
  steps: 4 silent steps each). The run lasts max(steps, T) steps.

``vocab_size`` decouples the input and output widths from the neurons: an encoder maps ``v_in``
features (``nn.Linear``) or token ids (``nn.Embedding``) onto the input neurons, a decoder
(``nn.Linear``) maps the output neurons to ``v_out`` values. With a decoder, ``forward`` returns
the decoded outputs of every step (B, steps, v_out) in place of the neurons' states.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from engrammar.nn.growth import Growth, Resized
from engrammar.spec import SpecError
from torch import Tensor, nn

from .data import to_tensor
from .dynamics import ACTIVATIONS, WEIGHT_INITS, activation_fn, initialize_synapses, stretch_factor, think

__all__ = ["VOCAB_MODES", "RealNet"]

VOCAB_MODES = ("hybrid", "discrete", "continuous")


def _ids(values: Iterable[int], num_neurons: int, path: str) -> list[int]:
    try:
        ids = [int(v) for v in values]
    except (TypeError, ValueError):
        raise SpecError(path, f"must be neuron indices (a list or range of ints), got {values!r}") from None
    if not ids:
        raise SpecError(path, "must name at least one neuron")
    if len(set(ids)) != len(ids):
        raise SpecError(path, f"names a neuron twice: {ids}")
    bad = [i for i in ids if not 0 <= i < num_neurons]
    if bad:
        raise SpecError(path, f"indices {bad} are outside 0..{num_neurons - 1} (num_neurons={num_neurons})")
    return ids


def _vocab(vocab_size: Any) -> tuple[int, int] | None:
    if vocab_size is None:
        return None
    if isinstance(vocab_size, bool):
        raise SpecError("vocab_size", f"must be an int or [v_in, v_out], got {vocab_size!r}")
    sizes = (vocab_size, vocab_size) if isinstance(vocab_size, int) else tuple(vocab_size)
    if len(sizes) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise SpecError("vocab_size", f"must be an int or [v_in, v_out], got {vocab_size!r}")
    if any(s == 0 or s < -1 for s in sizes):
        raise SpecError("vocab_size", f"sizes must be >= 1, or -1 to switch a side off, got {list(sizes)}")
    return int(sizes[0]), int(sizes[1])


class RealNet(nn.Module):
    """A single N×N recurrent layer with input and output neurons, run for ``steps`` thinking steps.

    ``weight`` (N, N): ``weight[i, j]`` is the synapse from neuron i to neuron j; ``bias`` (N,).
    ``dropout_rate``: probability that a synapse fails during training (each entry of ``weight``
    is dropped, with the rest scaled by 1 / (1 − p), once per forward call); no effect in eval
    mode. ``device``: where the parameters live.
    """

    def __init__(
        self,
        num_neurons: int,
        input_ids: Sequence[int] | Iterable[int],
        output_ids: Sequence[int] | Iterable[int],
        pulse_mode: bool = True,
        dropout_rate: float = 0.0,
        device: str | torch.device = "cpu",
        weight_init: str = "orthogonal",
        activation: str = "tanh",
        vocab_size: int | Sequence[int] | None = None,
        vocab_mode: str = "hybrid",
    ) -> None:
        super().__init__()
        if isinstance(num_neurons, bool) or not isinstance(num_neurons, int) or num_neurons < 1:
            raise SpecError("num_neurons", f"must be an int >= 1, got {num_neurons!r}")
        if not 0.0 <= float(dropout_rate) < 1.0:
            raise SpecError("dropout_rate", f"must be in [0, 1), got {dropout_rate!r}")
        if weight_init not in WEIGHT_INITS:
            raise SpecError(
                "weight_init", f"unknown weight_init {weight_init!r} (choose from {', '.join(WEIGHT_INITS)})"
            )
        activation_fn(activation)
        if vocab_mode not in VOCAB_MODES:
            raise SpecError("vocab_mode", f"must be one of {', '.join(VOCAB_MODES)}, got {vocab_mode!r}")
        self.num_neurons = num_neurons
        self.input_ids = _ids(input_ids, num_neurons, "input_ids")
        self.output_ids = _ids(output_ids, num_neurons, "output_ids")
        self.pulse_mode = bool(pulse_mode)
        self.dropout_rate = float(dropout_rate)
        self.weight_init = weight_init
        self.activation = activation
        self.vocab_size = _vocab(vocab_size)
        self.vocab_mode = vocab_mode
        self.register_buffer("input_index", torch.tensor(self.input_ids), persistent=False)
        self.register_buffer("output_index", torch.tensor(self.output_ids), persistent=False)
        self.weight = nn.Parameter(torch.empty(num_neurons, num_neurons))
        self.bias = nn.Parameter(torch.zeros(num_neurons))
        v_in, v_out = self.vocab_size if self.vocab_size is not None else (-1, -1)
        n_in, n_out = len(self.input_ids), len(self.output_ids)
        has_encoder = v_in > 0
        self.embedding = nn.Embedding(v_in, n_in) if has_encoder and vocab_mode != "continuous" else None
        self.projection = nn.Linear(v_in, n_in) if has_encoder and vocab_mode != "discrete" else None
        self.decoder = nn.Linear(n_out, v_out) if v_out > 0 else None
        self.reset_parameters()
        self.to(device)

    # ---- set-up ---------------------------------------------------------------------------

    def reset_parameters(self) -> None:
        """Draw the synapses afresh with ``weight_init`` and zero the bias (the encoder and decoder
        have their own ``reset_parameters``)."""
        initialize_synapses(self.weight, self.weight_init)
        with torch.no_grad():
            self.bias.zero_()

    def config(self) -> dict[str, Any]:
        """The constructor's arguments as plain data (what checkpoints record)."""
        return {
            "num_neurons": self.num_neurons,
            "input_ids": list(self.input_ids),
            "output_ids": list(self.output_ids),
            "pulse_mode": self.pulse_mode,
            "dropout_rate": self.dropout_rate,
            "weight_init": self.weight_init,
            "activation": self.activation,
            "vocab_size": list(self.vocab_size) if self.vocab_size is not None else None,
            "vocab_mode": self.vocab_mode,
        }

    @property
    def device(self) -> torch.device:
        return self.weight.device

    def compile(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """``torch.compile(self, ...)``: the compiled model (this one is left as it is)."""
        return torch.compile(self, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"num_neurons={self.num_neurons}, inputs={len(self.input_ids)}, outputs={len(self.output_ids)}, "
            f"pulse_mode={self.pulse_mode}, activation={self.activation!r}"
        )

    # ---- running ----------------------------------------------------------------------------

    def forward(self, x_input: Any, steps: int = 1, current_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the network for ``steps`` thinking steps on ``x_input`` (see the module docstring
        for the shapes). Returns ``(all_states (B, steps, N), final_state (B, N))``, or with a
        decoder ``(outputs (B, steps, v_out), final_state (B, N))``."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise SpecError("steps", f"must be an int >= 1, got {steps!r}")
        x = x_input if isinstance(x_input, Tensor) else to_tensor(x_input, self.device)
        encoded, sequential = self._encode(x.to(self.device))
        batch = encoded.shape[0]
        state = self._initial(current_state, batch, encoded.dtype)
        weight = self._synapses()
        if sequential:
            tokens = encoded.shape[1]
            factor = stretch_factor(tokens, steps)
            total = max(steps, tokens)

            def drives(t: int) -> Tensor | None:
                if t % factor or t // factor >= tokens:
                    return None
                return self._place(encoded[:, t // factor])
        else:
            total = steps
            placed = self._place(encoded)

            def drives(t: int) -> Tensor | None:
                return placed if (t == 0 or not self.pulse_mode) else None

        all_states, final = think(weight, self.bias, ACTIVATIONS[self.activation], state, drives, total)
        if self.decoder is not None:
            return self.decoder(all_states.index_select(-1, self.output_index)), final
        return all_states, final

    def read_out(self, all_states: Tensor) -> Tensor:
        """The output neurons' states (..., len(output_ids)) of ``forward``'s first result, or
        that result itself when the model has a decoder (it is already the output)."""
        if self.decoder is not None:
            return all_states
        return all_states.index_select(-1, self.output_index)

    def _synapses(self) -> Tensor:
        if not self.training or self.dropout_rate == 0.0:
            return self.weight
        keep = torch.rand_like(self.weight) >= self.dropout_rate
        return self.weight * keep / (1.0 - self.dropout_rate)

    def _initial(self, current_state: Tensor | None, batch: int, dtype: torch.dtype) -> Tensor:
        if current_state is None:
            return torch.zeros(batch, self.num_neurons, device=self.device, dtype=dtype)
        if current_state.shape != (batch, self.num_neurons):
            raise SpecError(
                "current_state",
                f"must have shape ({batch}, {self.num_neurons}) (batch, num_neurons), got {tuple(current_state.shape)}",
            )
        return current_state.to(device=self.device, dtype=dtype)

    def _place(self, encoded: Tensor) -> Tensor:
        """The drive (B, N): ``encoded`` (B, len(input_ids)) on the input neurons, or a full-width
        drive (B, N) (what :func:`prepare_input` returns) as it is."""
        if encoded.shape[-1] == self.num_neurons and len(self.input_ids) != self.num_neurons:
            return encoded
        zeros = encoded.new_zeros(encoded.shape[0], self.num_neurons)
        return zeros.index_copy(1, self.input_index, encoded)

    def _encode(self, x: Tensor) -> tuple[Tensor, bool]:
        """``x`` as input-neuron values, (B, n_in) or (B, T, n_in), and whether it is a sequence."""
        n_in = len(self.input_ids)
        if not x.is_floating_point():
            if self.embedding is None:
                raise SpecError(
                    "x_input",
                    "integer token ids need a token encoder: give vocab_size (with vocab_mode 'hybrid' or 'discrete')",
                )
            if x.dim() not in (1, 2):
                raise SpecError("x_input", f"token ids must be (B,) or (B, T), got shape {tuple(x.shape)}")
            v_in = self.embedding.num_embeddings
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= v_in):
                raise SpecError("x_input", f"token ids must be in 0..{v_in - 1}, got {int(x.min())}..{int(x.max())}")
            return self.embedding(x.long()), x.dim() == 2
        if x.dim() not in (2, 3):
            raise SpecError(
                "x_input",
                f"float input must be (B, D) (pulse or continuous) or (B, T, D) (a sequence), got {tuple(x.shape)}",
            )
        x = x.to(self.weight.dtype)
        width = x.shape[-1]
        if self.vocab_size is not None and self.vocab_size[0] > 0:
            if self.projection is None:
                raise SpecError("x_input", "float vectors need a projection: this model has vocab_mode 'discrete'")
            if width != self.projection.in_features:
                raise SpecError("x_input", f"has {width} features, vocab_size gives v_in={self.projection.in_features}")
            return self.projection(x), x.dim() == 3
        if width not in (n_in, self.num_neurons):
            raise SpecError(
                "x_input",
                f"has {width} features; expected {n_in} (one per input neuron) or {self.num_neurons} (a full-width drive)",
            )
        return x, x.dim() == 3

    # ---- growth (neurogenesis) --------------------------------------------------------------

    def grow(self, amount: int, *, generator: torch.Generator | None = None, outgoing_std: float = 0.01) -> Growth:
        """This network with ``amount`` more neurons (appended as the last indices), its function
        kept: the new neurons' incoming synapses and biases are zero, so they stay silent (for an
        activation with act(0) = 0), and their outgoing synapses are small random numbers (normal,
        ``outgoing_std``) so that gradients reach them. The growth protocol of
        :mod:`engrammar.nn.growth`; ``self`` is left as it was."""
        if amount < 1:
            raise SpecError("amount", f"must be >= 1, got {amount}")
        old = self.num_neurons
        wider = old + amount
        shared = {id(p): p for p in self.parameters()}  # every other parameter stays the same object
        grown = copy.deepcopy(self, memo=shared)
        grown.num_neurons = wider
        with torch.no_grad():
            weight = self.weight.new_zeros(wider, wider)
            weight[:old, :old] = self.weight
            noise = torch.randn(amount, old, generator=generator) * outgoing_std
            weight[old:, :old] = noise.to(weight)
            bias = self.bias.new_zeros(wider)
            bias[:old] = self.bias
        grown.weight = nn.Parameter(weight, requires_grad=self.weight.requires_grad)
        grown.bias = nn.Parameter(bias, requires_grad=self.bias.requires_grad)
        kept = torch.arange(old)
        resized = (
            Resized("weight", self.weight, grown.weight, (kept, kept)),
            Resized("bias", self.bias, grown.bias, (kept,)),
        )

        def widen_state(state: Any) -> Any:
            return torch.cat([state, state.new_zeros(state.shape[0], amount)], dim=-1)

        return Growth(grown, resized, None, widen_state)
