"""kv_attention and sliding_window against the from-scratch reference (values and gradients), the
decode path against the whole sequence, and what their caches hold."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.state import state_nbytes
from engrammar_attention import KVAttention, SlidingWindow
from engrammar_attention.reference import attention_reference

SMALL = {"in_features": 3, "hidden_size": 5, "num_heads": 2, "head_dim": 4}
CONFIGS = [
    pytest.param("kv_attention", {}, id="kv"),
    pytest.param("kv_attention", {"max_length": 3}, id="kv-max_length3"),
    pytest.param("kv_attention", {"rotary": False, "persistent_slots": 2}, id="kv-norotary-persistent"),
    pytest.param("sliding_window", {"window": 4}, id="window4"),
    pytest.param("sliding_window", {"window": 1}, id="window1"),
    pytest.param("sliding_window", {"window": 3, "persistent_slots": 3}, id="window3-persistent"),
    pytest.param("sliding_window", {"window": 5, "rotary": False}, id="window5-norotary"),
]


def _build(name: str, dtype: torch.dtype = torch.float64, **fields: object):
    torch.manual_seed(0)
    return engrammar.build(name, **{**SMALL, **fields}).to(dtype).eval()


def _steps(model, x, state=None, resets=None):
    outputs = []
    for t in range(x.shape[1]):
        y_t, state = model.step(x[:, t], state, None if resets is None else resets[:, t])
        outputs.append(y_t)
    return torch.stack(outputs, dim=1), state


def _resets(batch: int, length: int) -> torch.Tensor:
    resets = torch.rand(batch, length, generator=torch.Generator().manual_seed(1)) < 0.15
    resets[0, length // 2] = True
    resets[-1, :] = False
    return resets


@pytest.mark.parametrize(("name", "fields"), CONFIGS)
@pytest.mark.parametrize("use_resets", [False, True], ids=["", "resets"])
def test_forward_and_step_equal_the_reference(name, fields, use_resets):
    model = _build(name, **fields)
    x = torch.randn(3, 14, 3, dtype=torch.float64)
    resets = _resets(3, 14) if use_resets else None
    expected = attention_reference(model, x, resets)
    y, state = model(x, resets=resets)
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=0)
    y_steps, state_steps = _steps(model, x, resets=resets)
    torch.testing.assert_close(y_steps, expected, atol=1e-12, rtol=0)
    for key in state:
        torch.testing.assert_close(state_steps[key], state[key], atol=1e-12, rtol=0)


@pytest.mark.parametrize(("name", "fields"), CONFIGS)
def test_gradients_equal_the_reference(name, fields):
    model = _build(name, **fields)
    x = torch.randn(2, 11, 3, dtype=torch.float64, requires_grad=True)
    resets = _resets(2, 11)
    weights = torch.randn(2, 11, 5, dtype=torch.float64)

    def grads(outputs):
        return torch.autograd.grad((outputs * weights).sum(), [x, *model.parameters()])

    for got, want in zip(grads(model(x, resets=resets)[0]), grads(attention_reference(model, x, resets))):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "fields", [{}, {"max_length": 7}, {"persistent_slots": 4}], ids=["unbounded", "max_length7", "persistent"]
)
def test_kv_decode_equals_the_whole_sequence(fields):
    """float32, 96 tokens: stepping one token at a time gives the whole-sequence outputs to 1e-5."""
    model = _build("kv_attention", torch.float32, **{**fields, "hidden_size": 32, "num_heads": 4, "head_dim": 8})
    x = torch.randn(4, 96, 3)
    with torch.no_grad():
        y, state = model(x)
        y_steps, state_steps = _steps(model, x)
    assert (y_steps - y).abs().max() <= 1e-5
    assert (state_steps["keys"] - state["keys"]).abs().max() <= 1e-5
    assert torch.equal(state_steps["position"], state["position"])


def test_kv_cache_grows_one_slot_per_token_and_max_length_caps_it():
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    unbounded, capped = _build("kv_attention"), _build("kv_attention", max_length=4)
    assert unbounded.init_state(2)["keys"].shape == (2, 2, 0, 4)
    _, state = unbounded(x[:, :5])
    assert state["keys"].shape == (2, 2, 5, 4)
    _, state = unbounded(x[:, 5:], state)
    assert state["keys"].shape == (2, 2, 9, 4) and state["position"].tolist() == [9, 9]
    _, state = capped(x)
    assert state["keys"].shape == (2, 2, 4, 4)
    # the capped cache holds the newest four tokens, the same slots the unbounded one ends with
    _, full = unbounded(x)
    torch.testing.assert_close(state["values"], full["values"][:, :, -4:])


def test_sliding_window_state_is_constant_and_old_tokens_are_forgotten():
    model = _build("sliding_window", window=4)
    x = torch.randn(1, 30, 3, dtype=torch.float64)
    sizes = []
    state = None
    for piece in x.split(10, dim=1):
        _, state = model(piece, state)
        sizes.append(state_nbytes(state))
    assert sizes == [sizes[0]] * 3 and state["keys"].shape == (1, 2, 3, 4)
    changed = x.clone()
    changed[:, :20] = torch.randn(1, 20, 3, dtype=torch.float64)
    y, _ = model(x)
    y_changed, _ = model(changed)
    torch.testing.assert_close(y_changed[:, 23:], y[:, 23:])  # a window of 4 reaches back to t - 3
    assert not torch.allclose(y_changed[:, 22], y[:, 22])


def test_kv_with_max_length_sees_what_sliding_window_one_longer_sees():
    kv = _build("kv_attention", max_length=5)
    window = _build("sliding_window", window=6)
    window.load_state_dict(kv.state_dict())
    x = torch.randn(2, 20, 3, dtype=torch.float64)
    resets = _resets(2, 20)
    torch.testing.assert_close(window(x, resets=resets)[0], kv(x, resets=resets)[0], atol=1e-12, rtol=0)


def test_blocked_path_equals_the_dense_path():
    """A sequence of several windows runs the blocked form; one token at a time runs the dense one."""
    model = _build("sliding_window", window=4, persistent_slots=2)
    x = torch.randn(2, 37, 3, dtype=torch.float64)
    _, warm = model(torch.randn(2, 6, 3, dtype=torch.float64))
    resets = _resets(2, 37)
    y, state = model(x, warm, resets)
    y_steps, state_steps = _steps(model, x, warm, resets)
    torch.testing.assert_close(y, y_steps, atol=1e-12, rtol=0)
    torch.testing.assert_close(state["keys"], state_steps["keys"], atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["kv_attention", "sliding_window"])
def test_reset_in_a_warm_batch_equals_a_fresh_start(name):
    """One sample resets, the other keeps its cache: the reset one continues like a fresh run,
    through forward, step, Stateful.reset_state and a step-major wiring."""
    model = _build(name, window=3) if name == "sliding_window" else _build(name)
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    stateful = engrammar.Stateful(model)
    stateful.init_state(batch_size=2, dtype=torch.float64)
    stateful(x[:, :4])
    stateful.reset_state(torch.tensor([True, False]))
    assert stateful.state["position"].tolist() == [0, 4]
    y = stateful(x[:, 4:])
    torch.testing.assert_close(y[0], model(x[:1, 4:])[0][0])
    torch.testing.assert_close(y[1], model(x[1:])[0][0, 4:])

    torch.manual_seed(0)
    loop = engrammar.build(
        {
            "name": "attend_to_own_output",
            "in_features": 3,
            "nodes": {
                "att": {"use": name, "hidden_size": 4, "num_heads": 2, "head_dim": 2, "in": ["x", "back@-1"]},
                "back": {"use": "linear", "out_features": 2, "in": "att"},
            },
            "out": "back",
        }
    ).double()
    resets = torch.zeros(2, 8, dtype=torch.bool)
    resets[0, 4] = True
    y, _ = loop(x, resets=resets)
    torch.testing.assert_close(y[0, 4:], loop(x[:1, 4:])[0][0])
    torch.testing.assert_close(y[1], loop(x[1:])[0][0])


@pytest.mark.parametrize("offset", [1, 1000, 10**7])
def test_rotary_positions_are_relative(offset):
    """Starting at position ``offset`` with an empty cache gives the outputs of starting at 0."""
    model = _build("kv_attention")
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    start = model.init_state(2, dtype=torch.float64)
    shifted = {**start, "position": torch.full_like(start["position"], offset)}
    y, state = model(x, shifted)
    torch.testing.assert_close(y, model(x)[0])
    assert state["position"].tolist() == [offset + 6] * 2


def test_without_rotary_attention_ignores_order():
    """rotary: false makes the memory a bag: permuting the earlier tokens leaves the last output."""
    model = _build("kv_attention", rotary=False)
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    shuffled = torch.cat([x[:, [3, 0, 4, 1, 2]], x[:, 5:]], dim=1)
    torch.testing.assert_close(model(shuffled)[0][:, -1], model(x)[0][:, -1])
    with_rotary = _build("kv_attention")
    assert not torch.allclose(with_rotary(shuffled)[0][:, -1], with_rotary(x)[0][:, -1])


def test_aliases_build_the_same_components():
    assert isinstance(engrammar.build("short_term", **SMALL), SlidingWindow)
    assert isinstance(engrammar.build("attention_memory", **SMALL), KVAttention)


def test_spec_errors_name_the_field():
    with pytest.raises(engrammar.SpecError, match="head_dim"):
        engrammar.build("sliding_window", **{**SMALL, "head_dim": 3})
    engrammar.build("sliding_window", **{**SMALL, "head_dim": 3, "rotary": False})
    with pytest.raises(engrammar.SpecError, match="window"):
        engrammar.build("sliding_window", **SMALL, window=0)
    with pytest.raises(engrammar.SpecError, match="max_length"):
        engrammar.build("kv_attention", **SMALL, max_length=0)


@pytest.mark.parametrize("name", ["kv_attention", "sliding_window"])
def test_bf16_autocast_keeps_the_cache_in_the_state_dtype(name):
    torch.manual_seed(0)
    model = engrammar.build(name, **{**SMALL, "hidden_size": 8, "persistent_slots": 2})
    x = torch.randn(2, 9, 3)
    reference, _ = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = model(x)
        _, state = model.step(x[:, 0], state)
    assert state["keys"].dtype == torch.float32 and state["values"].dtype == torch.float32
    torch.testing.assert_close(y.float(), reference, atol=0.05, rtol=0.05)
