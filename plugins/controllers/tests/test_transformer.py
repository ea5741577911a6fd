"""transformer: cached stepping equals the whole-sequence forward and the no-cache reference (values
and gradients), the window bounds the state, and resets hide the past."""

import engrammar
import pytest
import torch
from engrammar_controllers.naive import transformer_reference


def _build(**fields: object) -> torch.nn.Module:
    torch.manual_seed(0)
    spec = {"in_features": 3, "hidden_size": 8, "num_heads": 2, "num_layers": 2, **fields}
    return engrammar.build("transformer", **spec).double().eval()


def _steps(model, x, state=None, resets=None):
    outputs = []
    for t in range(x.shape[1]):
        y_t, state = model.step(x[:, t], state, None if resets is None else resets[:, t])
        outputs.append(y_t)
    return torch.stack(outputs, 1), state


@pytest.mark.parametrize("window", [None, 1, 3, 20])
def test_forward_step_and_reference_agree(window: int | None) -> None:
    model = _build(window=window)
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    y, state = model(x)
    y_step, state_step = _steps(model, x)
    reference = transformer_reference(model, x)
    torch.testing.assert_close(y, reference)
    torch.testing.assert_close(y_step, reference)
    for key in state:
        torch.testing.assert_close(state_step[key], state[key])


def test_gradients_match_reference() -> None:
    model = _build(window=4)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    weights = torch.randn(2, 7, 8, dtype=torch.float64)

    def grads(outputs: torch.Tensor) -> list[torch.Tensor]:
        model.zero_grad()
        (outputs * weights).sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    expected = grads(transformer_reference(model, x))
    for a, b in zip(grads(model(x)[0]), expected):
        torch.testing.assert_close(a, b)
    for a, b in zip(grads(_steps(model, x)[0]), expected):
        torch.testing.assert_close(a, b)


def test_window_keeps_state_constant_and_forgets_old_tokens() -> None:
    model = _build(window=3)
    x = torch.randn(1, 10, 3, dtype=torch.float64)
    _, state = model(x)
    assert state["keys"].shape == (1, 2, 2, 8) and int(state["position"]) == 10
    changed = x.clone()
    changed[:, :5] = torch.randn(1, 5, 3, dtype=torch.float64)
    # Output at t depends on tokens t-2..t per layer, so on t-4..t with two layers.
    torch.testing.assert_close(model(changed)[0][:, 9], model(x)[0][:, 9])
    assert not torch.allclose(model(changed)[0][:, 6], model(x)[0][:, 6])


def test_unbounded_cache_grows_and_resets_equal_fresh_runs() -> None:
    model = _build()
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    resets = torch.zeros(2, 8, dtype=torch.bool)
    resets[0, 3] = True
    resets[0, 6] = True
    y, state = model(x, resets=resets)
    assert state["keys"].shape == (2, 2, 8, 8)
    assert state["position"].tolist() == [2, 8]
    torch.testing.assert_close(y[0, 6:], model(x[:1, 6:])[0][0])
    torch.testing.assert_close(y[0, 3:6], model(x[:1, 3:6])[0][0])
    torch.testing.assert_close(y[1], model(x[1:])[0][0])
    y_step, state_step = _steps(model, x, resets=resets)
    torch.testing.assert_close(y_step, y)
    torch.testing.assert_close(state_step["keys"], state["keys"])


def test_reset_of_a_warm_state_equals_a_fresh_run() -> None:
    """A sample continued from a warm state with its past hidden by a reset behaves like a fresh one."""
    model = _build(window=4)
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    _, warm = model(torch.randn(1, 5, 3, dtype=torch.float64))
    resets = torch.zeros(1, 6, dtype=torch.bool)
    resets[0, 0] = True
    torch.testing.assert_close(model(x, warm, resets)[0], model(x)[0])
    assert not torch.allclose(model(x, warm)[0], model(x)[0])  # without the reset the past shows


@pytest.mark.parametrize("offset", [1, 1000, 10**7])
def test_positions_are_relative(offset: int) -> None:
    """Rotary embeddings: starting at absolute position ``offset`` (an empty cache) gives the same
    outputs as starting at 0, since attention scores depend on position differences only."""
    model = _build()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    start = model.init_state(2, dtype=torch.float64)
    shifted = {**start, "position": torch.full_like(start["position"], offset)}
    y, state = model(x, shifted)
    torch.testing.assert_close(y, model(x)[0])
    assert state["position"].tolist() == [offset + 6] * 2
    y_step, _ = _steps(model, x, shifted)
    torch.testing.assert_close(y_step, y)


def test_spec_checks_heads() -> None:
    with pytest.raises(engrammar.SpecError, match="divisible by num_heads"):
        engrammar.build("transformer", in_features=3, hidden_size=6, num_heads=4)
    with pytest.raises(engrammar.SpecError, match="must be even"):
        engrammar.build("transformer", in_features=3, hidden_size=6, num_heads=2)


def test_bf16_autocast_keeps_the_cache_in_the_state_dtype() -> None:
    torch.manual_seed(0)
    model = engrammar.build("transformer", in_features=3, hidden_size=8, num_heads=2, window=3)
    x = torch.randn(2, 6, 3)
    reference, _ = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = model(x)
    assert state["keys"].dtype == torch.float32 and state["values"].dtype == torch.float32
    torch.testing.assert_close(y.float(), reference, atol=0.1, rtol=0.05)


def test_unbounded_cache_resets_through_reset_samples_in_stateful_and_wirings() -> None:
    """Stateful.reset_state(mask) and a step-major wiring reset through ``reset_samples``: the
    grown cache is emptied in place (swapping in the shorter initial state would not fit)."""
    model = _build()
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    stateful = engrammar.Stateful(model)
    stateful.init_state(batch_size=2, dtype=torch.float64)
    stateful(x[:, :4])
    stateful.reset_state(torch.tensor([True, False]))
    assert stateful.state["keys"].shape == (2, 2, 4, 8) and stateful.state["position"].tolist() == [0, 4]
    y = stateful(x[:, 4:])
    torch.testing.assert_close(y[0], model(x[:1, 4:])[0][0])
    torch.testing.assert_close(y[1], model(x[1:])[0][0, 4:])

    torch.manual_seed(0)
    loop = engrammar.build(
        {
            "name": "attend_to_own_output",
            "in_features": 3,
            "nodes": {
                "att": {"use": "transformer", "hidden_size": 8, "num_heads": 2, "in": ["x", "back@-1"]},
                "back": {"use": "linear", "out_features": 2, "in": "att"},
            },
            "out": "back",
        }
    ).double()
    resets = torch.zeros(2, 7, dtype=torch.bool)
    resets[0, 4] = True
    y, _ = loop(x, resets=resets)
    torch.testing.assert_close(y[0, 4:], loop(x[:1, 4:])[0][0])
    torch.testing.assert_close(y[1], loop(x[1:])[0][0])
