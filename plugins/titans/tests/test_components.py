"""``neural_memory``, ``ttt_linear`` and ``ttt_mlp`` as components: they learn at test time (eval
mode, no autograd), the freeze flag stops that outside training, the state does not grow with the
sequence, the gates stay in range, and bad specs get errors that name the field."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.spec import SpecError
from engrammar.state import state_nbytes

NAMES = ["neural_memory", "ttt_linear", "ttt_mlp"]
SMALL = {"in_features": 6, "hidden_size": 8, "num_heads": 2, "head_dim": 4, "chunk_size": 4, "use_short_conv": False}


def build(name, **fields):
    torch.manual_seed(0)
    return engrammar.build(name, **{**SMALL, **fields})


def inner_losses(memory, x, weights):
    """Each token's inner loss ℓ(W; k_t, v_t) under ``weights`` (the keys and values of ``x``)."""
    _, k, v = (memory._heads if hasattr(memory, "_heads") else memory._views)(memory.qkv_proj(x))
    norm = None
    if memory.model.residual_norm:
        gamma, beta = memory._inner_norm()
        norm = (gamma[:, None], beta[:, None])
    _, _, losses = memory.model.gradients(weights, k.transpose(1, 2), v.transpose(1, 2), norm)
    return losses  # (B, H, T)


@pytest.mark.parametrize("name", NAMES)
def test_the_memory_learns_in_eval_mode_without_autograd(name):
    memory = build(name).eval()
    x = torch.randn(3, 24, 6)
    with torch.no_grad():
        initial = memory.init_state(3)
        _, state = memory(x, initial)
        before = inner_losses(memory, x, initial["weights"]).mean()
        after = inner_losses(memory, x, state["weights"]).mean()
    assert not torch.equal(state["weights"]["w1"], initial["weights"]["w1"])
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("name", NAMES)
def test_learn_at_test_time_false_freezes_the_memory_outside_training(name):
    memory = build(name, learn_at_test_time=False)
    x = torch.randn(2, 9, 6)
    initial = memory.init_state(2)
    with torch.no_grad():
        memory.eval()
        y_frozen, frozen = memory(x, initial)
        y_steps, stepped = [], initial
        for t in range(9):
            y_t, stepped = memory.step(x[:, t], stepped)
            y_steps.append(y_t)
        memory.train()
        _, trained = memory(x, initial)
    for key in ("weights",):
        assert all(torch.equal(frozen[key][n], initial[key][n]) for n in initial[key])
        assert all(torch.equal(stepped[key][n], initial[key][n]) for n in initial[key])
    assert not torch.equal(trained["weights"]["w1"], initial["weights"]["w1"])
    assert torch.allclose(torch.stack(y_steps, 1), y_frozen, atol=1e-6)
    # frozen, a token's output does not depend on the tokens before it; learning, it does
    with torch.no_grad():
        memory.eval()
        y_alone, _ = memory(x[:, 7:], initial)
        memory.train()
        y_learning, _ = memory(x, initial)
        y_learning_alone, _ = memory(x[:, 7:], initial)
    assert torch.allclose(y_alone, y_frozen[:, 7:], atol=1e-6)
    assert (y_learning_alone - y_learning[:, 7:]).abs().max() > 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_state_bytes_do_not_grow_with_the_sequence(name):
    memory = build(name, use_short_conv=True)
    with torch.no_grad():
        short = memory(torch.randn(2, 8, 6))[1]
        long = memory(torch.randn(2, 300, 6))[1]
    assert state_nbytes(short) == state_nbytes(long) == state_nbytes(memory.init_state(2))


def test_neural_memory_gates_stay_in_range():
    memory = build("neural_memory", max_lr=0.3)
    lr, log_momentum, log_retention = memory._gates(10 * torch.randn(2, 50, 6))
    assert bool(((lr > 0) & (lr <= 0.3)).all())
    assert bool((log_momentum <= 0).all()) and bool((log_retention <= 0).all())
    plain = build("neural_memory", use_momentum=False, use_weight_decay=False)
    _, no_momentum, no_decay = plain._gates(torch.randn(2, 5, 6))
    assert no_momentum is None and no_decay is None
    assert "momentum" not in plain.init_state(1)


def test_ttt_token_scale_starts_as_the_running_mean():
    memory = build("ttt_linear", chunk_size=5)
    assert torch.allclose(memory._token_scale(), 1.0 / torch.arange(1.0, 6.0))


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("neural_memory", "memory_depth", 0),
        ("neural_memory", "chunk_size", 0),
        ("neural_memory", "max_lr", 0.0),
        ("ttt_linear", "base_lr", -1.0),
        ("ttt_mlp", "mlp_expansion", 0),
    ],
)
def test_bad_values_name_the_field(name, field, value):
    with pytest.raises(SpecError, match=field):
        build(name, **{field: value})


@pytest.mark.parametrize("name", NAMES)
def test_chunked_forward_matches_the_step_loop_across_chunk_boundaries_and_resets(name):
    """Longer than the conformance draws: several chunks, resets inside them, a state entering mid-chunk."""
    memory = build(name, use_short_conv=True).double()
    x = torch.randn(2, 23, 6, dtype=torch.float64)
    resets = torch.zeros(2, 23, dtype=torch.bool)
    resets[0, 6] = resets[1, 13] = True
    with torch.no_grad():
        _, start = memory(torch.randn(2, 3, 6, dtype=torch.float64))
        y, final = memory(x, start, resets)
        state, steps = start, []
        for t in range(23):
            y_t, state = memory.step(x[:, t], state, resets[:, t])
            steps.append(y_t)
    assert (torch.stack(steps, 1) - y).abs().max() < 1e-10
    assert (state["weights"]["w1"] - final["weights"]["w1"]).abs().max() < 1e-10
