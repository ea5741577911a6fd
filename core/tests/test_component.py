"""The base class: checks at the boundary, resets by segmentation, the object-style wrapper, and
ema's closed-form path against its step oracle in values and gradients."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.builtin.ema import EMA
from engrammar.component import Component, Stateful
from engrammar.spec import SpecError


def naive_ema(x: torch.Tensor, decay: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    outputs, m = [], start
    for t in range(x.shape[1]):
        m = decay * m + (1 - decay) * x[:, t]
        outputs.append(m)
    return torch.stack(outputs, dim=1)


@pytest.mark.parametrize("length", [1, 5, 16, 37])
@pytest.mark.parametrize("chunk_size", [1, 4, 16])
def test_ema_sequence_matches_the_naive_loop_in_values_and_gradients(length: int, chunk_size: int) -> None:
    torch.manual_seed(0)
    ema = EMA(in_features=3, init_decay=0.7, chunk_size=chunk_size).double()
    with torch.no_grad():
        ema.decay_logit.copy_(torch.randn(3, dtype=torch.float64))
    x = torch.randn(2, length, 3, dtype=torch.float64, requires_grad=True)
    start = torch.randn(2, 3, dtype=torch.float64)
    y, state = ema(x, {"average": start})
    reference = naive_ema(x, torch.sigmoid(ema.decay_logit), start)
    torch.testing.assert_close(y, reference, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(state["average"], reference[:, -1])
    weights = torch.randn_like(y)
    grads = torch.autograd.grad((y * weights).sum(), (x, ema.decay_logit))
    grads_ref = torch.autograd.grad((reference * weights).sum(), (x, ema.decay_logit))
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)


def test_long_sequences_with_strong_decay_stay_finite() -> None:
    ema = EMA(in_features=2, init_decay=1e-4)
    y, _ = ema(torch.randn(1, 500, 2))
    assert torch.isfinite(y).all()


def test_forward_checks_shapes_and_resets() -> None:
    ema = EMA(in_features=3)
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, 3\), got \(2, 4\)"):
        ema(torch.randn(2, 4))
    with pytest.raises(ValueError, match="resets must be a bool tensor of shape"):
        ema(torch.randn(2, 4, 3), resets=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"step: expected x_t of shape \(B, 3\)"):
        ema.step(torch.randn(2, 1, 3))


def test_empty_sequence_returns_empty_output_and_the_same_state() -> None:
    ema = EMA(in_features=3)
    state = {"average": torch.ones(2, 3)}
    y, out = ema(torch.randn(2, 0, 3), state)
    assert y.shape == (2, 0, 3) and out is state


def test_missing_in_features_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"^EMA\.in_features: must be set"):
        EMA()


def test_resets_by_segmentation_equal_fresh_runs() -> None:
    torch.manual_seed(1)
    ema = EMA(in_features=2, chunk_size=3).double()
    x = torch.randn(2, 9, 2, dtype=torch.float64)
    resets = torch.zeros(2, 9, dtype=torch.bool)
    resets[0, 4] = True
    y, _ = ema(x, {"average": torch.randn(2, 2, dtype=torch.float64)}, resets)
    fresh, _ = ema(x[:1, 4:])
    torch.testing.assert_close(y[:1, 4:], fresh)


def test_stateful_wrapper_keeps_resets_and_detaches_state() -> None:
    torch.manual_seed(2)
    ema = EMA(in_features=2)
    wrapper = Stateful(ema)
    wrapper.init_state(batch_size=2)
    x = torch.randn(2, 5, 2, requires_grad=True)
    whole, _ = ema(x)
    first = wrapper(x[:, :3])
    wrapper.detach_state()
    assert not wrapper.state["average"].requires_grad
    second = wrapper(x[:, 3:])
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    wrapper.reset_state(torch.tensor([True, False]))
    assert torch.equal(wrapper.state["average"][0], torch.zeros(2))
    assert not torch.equal(wrapper.state["average"][1], torch.zeros(2))
    step = wrapper.step(x[:, 0].detach())
    assert step.shape == (2, 2)
    wrapper.reset_state()
    assert torch.equal(wrapper.state["average"], torch.zeros(2, 2))
    assert "state_dict" not in vars(wrapper)


def test_state_never_lives_on_the_module() -> None:
    ema = engrammar.build("ema", in_features=4)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    ema(torch.randn(3, 6, 4))
    assert ema.state_dict().keys() == before.keys()
    assert all(torch.equal(before[k], v) for k, v in ema.state_dict().items())


def test_a_minimal_subclass_only_needs_step() -> None:
    class Counter(Component):
        """Counts steps."""

        @property
        def out_features(self) -> int:
            return 1

        def state_spec(self) -> dict:
            return {"count": engrammar.StateEntry((1,))}

        def _step(self, x_t: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
            count = state["count"] + 1
            return count, {"count": count}

    counter = Counter(in_features=2)
    resets = torch.tensor([[False, False, True, False]])
    y, state = counter(torch.randn(1, 4, 2), resets=resets)
    assert y.flatten().tolist() == [1, 2, 1, 2]
    assert state["count"].item() == 2
