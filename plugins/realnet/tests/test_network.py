"""RealNet's network: the three input modes against a slow step-by-step reference, the vocabulary
encoder and decoder, synaptic failure, growth, and clear errors for bad input."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.spec import SpecError
from engrammar_realnet.dynamics import injection_steps, stretch_factor
from realnet import RealNet
from realnet.utils.data import prepare_input, to_tensor


def reference(model: RealNet, drives: list[torch.Tensor | None], state: torch.Tensor) -> torch.Tensor:
    """The update rule written out: h ← act(h W + b + u_t), one neuron at a time."""
    act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[model.activation]
    n = model.num_neurons
    states = []
    for drive in drives:
        new = torch.empty_like(state)
        for b in range(state.shape[0]):
            for j in range(n):
                total = model.bias[j] + sum(state[b, i] * model.weight[i, j] for i in range(n))
                if drive is not None:
                    total = total + drive[b, j]
                new[b, j] = act(total)
        state = new
        states.append(state)
    return torch.stack(states, dim=1)


def placed(model: RealNet, x: torch.Tensor) -> torch.Tensor:
    u = torch.zeros(x.shape[0], model.num_neurons, dtype=x.dtype)
    for k, neuron in enumerate(model.input_ids):
        u[:, neuron] = x[:, k]
    return u


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_pulse_and_continuous_modes_follow_the_update_rule(activation) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 2, dtype=torch.float64)
    for pulse in (True, False):
        model = RealNet(4, [2, 0], [3], pulse_mode=pulse, activation=activation).double()
        with torch.no_grad():
            model.bias.normal_()
        all_states, final = model(x, steps=4)
        u = placed(model, x)
        drives = [u] + [None if pulse else u] * 3
        expected = reference(model, drives, torch.zeros(2, 4, dtype=torch.float64))
        torch.testing.assert_close(all_states, expected)
        torch.testing.assert_close(final, expected[:, -1])
    assert all_states.shape == (2, 4, 4)


def test_sequential_mode_spreads_silent_steps_between_tokens() -> None:
    assert stretch_factor(100, 500) == 5 and injection_steps(100, 500)[:3] == [0, 5, 10]  # 4 silent steps each
    assert stretch_factor(3, 7) == 2 and stretch_factor(5, 2) == 1
    torch.manual_seed(1)
    model = RealNet(5, [0, 1], [4]).double()
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    all_states, _ = model(x, steps=7)
    drives: list[torch.Tensor | None] = [None] * 7
    for k, t in enumerate(injection_steps(3, 7)):
        drives[t] = placed(model, x[:, k])
    expected = reference(model, drives, torch.zeros(2, 5, dtype=torch.float64))
    torch.testing.assert_close(all_states, expected)
    assert model(x, steps=1)[0].shape == (2, 3, 5)  # fewer steps than tokens: one per token


def test_token_ids_go_through_the_embedding_and_the_decoder_gives_the_outputs() -> None:
    torch.manual_seed(2)
    model = RealNet(num_neurons=6, input_ids=range(3), output_ids=[4, 5], vocab_size=11, vocab_mode="discrete")
    tokens = torch.randint(0, 11, (2, 4))
    outputs, final = model(tokens, steps=8)
    assert outputs.shape == (2, 8, 11) and final.shape == (2, 6)
    # The same network without the decoder: its output neurons decoded by hand.
    bare = RealNet(6, range(3), [4, 5])
    bare.load_state_dict({k: v for k, v in model.state_dict().items() if k in ("weight", "bias")})
    embedded = model.embedding(tokens)
    bare_states, _ = bare(embedded, steps=8)
    torch.testing.assert_close(outputs, model.decoder(bare_states[..., [4, 5]]))


def test_asymmetric_vocabulary_maps_pixels_to_classes() -> None:
    model = RealNet(
        num_neurons=10, input_ids=range(10), output_ids=range(10), vocab_size=[784, 10], vocab_mode="continuous"
    )
    outputs, _ = model(torch.rand(3, 784), steps=4)
    assert outputs.shape == (3, 4, 10)
    assert model.embedding is None and model.projection.in_features == 784
    hybrid = RealNet(8, range(4), range(4), vocab_size=[20, -1])
    assert hybrid.embedding is not None and hybrid.projection is not None and hybrid.decoder is None
    assert hybrid(torch.randint(0, 20, (2,)), steps=3)[0].shape == (2, 3, 8)  # a token as a pulse
    assert hybrid(torch.rand(2, 20), steps=3)[0].shape == (2, 3, 8)
    decoded_only = RealNet(8, range(4), range(4), vocab_size=[-1, 5])
    assert decoded_only(torch.rand(2, 4), steps=2)[0].shape == (2, 2, 5)


def test_prepare_input_places_features_and_the_model_accepts_the_drive() -> None:
    torch.manual_seed(3)
    model = RealNet(5, [3, 1], [0])
    features = torch.rand(4, 2)
    drive, batch = prepare_input(features.numpy(), model.input_ids, model.num_neurons, "cpu")
    assert batch == 4 and drive.shape == (4, 5)
    assert torch.equal(drive[:, 3], features[:, 0]) and torch.equal(drive[:, 1], features[:, 1])
    assert torch.all(drive[:, [0, 2, 4]] == 0)
    torch.testing.assert_close(model(drive, steps=3)[0], model(features, steps=3)[0])
    sequence, _ = prepare_input(torch.rand(4, 6, 2), model.input_ids, 5)
    assert sequence.shape == (4, 6, 5)
    assert to_tensor([1, 2]).dtype == torch.int64 and to_tensor([0.5]).dtype == torch.float32
    assert to_tensor(3).dim() == 0


def test_current_state_continues_a_run() -> None:
    torch.manual_seed(4)
    model = RealNet(4, [0], [3], pulse_mode=False)
    x = torch.rand(2, 1)
    whole, _ = model(x, steps=6)
    first, state = model(x, steps=2)
    rest, _ = model(x, steps=4, current_state=state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)


def test_synaptic_failure_acts_in_training_only() -> None:
    torch.manual_seed(5)
    model = RealNet(16, range(4), range(4), dropout_rate=0.5)
    x = torch.rand(3, 4)
    a, _ = model(x, steps=3)
    b, _ = model(x, steps=3)
    assert not torch.allclose(a, b)
    model.eval()
    assert torch.equal(model(x, steps=3)[0], model(x, steps=3)[0])


@pytest.mark.parametrize("scheme", ["orthogonal", "xavier_uniform", "kaiming_normal", "normal"])
def test_weight_init_schemes(scheme) -> None:
    torch.manual_seed(6)
    model = RealNet(32, range(2), range(2), weight_init=scheme)
    w = model.weight.detach()
    if scheme == "orthogonal":
        torch.testing.assert_close(w @ w.T, torch.eye(32), atol=1e-5, rtol=0)
    else:
        assert not torch.allclose(w @ w.T, torch.eye(32), atol=0.1)
    assert torch.all(model.bias == 0)


def test_grow_appends_silent_neurons_and_keeps_the_function() -> None:
    torch.manual_seed(7)
    model = RealNet(5, [0, 1], [4], vocab_size=[-1, 3])
    x = torch.rand(2, 2)
    growth = model.grow(3, generator=torch.Generator().manual_seed(0), outgoing_std=0.1)
    grown = growth.component
    assert grown.num_neurons == 8 and model.num_neurons == 5  # the original is left as it was
    assert grown.decoder.weight is model.decoder.weight  # untouched parameters are the same objects
    assert torch.all(grown.weight[:, 5:] == 0) and torch.all(grown.weight[5:, :5].abs() > 0)
    torch.testing.assert_close(grown(x, steps=6)[0], model(x, steps=6)[0])


def test_compile_returns_what_torch_compile_makes_of_the_model(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, *args, **kwargs: calls.append((model, kwargs)) or "compiled")
    model = RealNet(4, [0, 1], [3])
    assert model.compile(mode="reduce-overhead") == "compiled"  # importing the real compiler costs seconds
    assert calls == [(model, {"mode": "reduce-overhead"})]


def test_bad_input_is_named() -> None:
    with pytest.raises(SpecError, match=r"^input_ids: indices \[3\] are outside 0..2"):
        RealNet(3, [0, 3], [2])
    with pytest.raises(SpecError, match="^vocab_mode: must be one of"):
        RealNet(3, [0], [2], vocab_mode="sparse")
    with pytest.raises(SpecError, match="^vocab_size: sizes must be >= 1, or -1"):
        RealNet(3, [0], [2], vocab_size=[0, 4])
    with pytest.raises(SpecError, match="^activation: unknown activation 'swish'"):
        RealNet(3, [0], [2], activation="swish")
    with pytest.raises(SpecError, match="^weight_init: unknown weight_init"):
        RealNet(3, [0], [2], weight_init="he")
    model = RealNet(3, [0, 1], [2])
    with pytest.raises(SpecError, match="^x_input: has 5 features; expected 2"):
        model(torch.rand(2, 5))
    with pytest.raises(SpecError, match="^x_input: integer token ids need a token encoder"):
        model(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(SpecError, match="^steps: must be an int >= 1"):
        model(torch.rand(2, 2), steps=0)
    with pytest.raises(SpecError, match=r"^current_state: must have shape \(2, 3\)"):
        model(torch.rand(2, 2), current_state=torch.zeros(2, 4))
    discrete = RealNet(4, [0], [1], vocab_size=5, vocab_mode="discrete")
    with pytest.raises(SpecError, match="^x_input: float vectors need a projection"):
        discrete(torch.rand(2, 5))
    with pytest.raises(SpecError, match=r"^x_input: token ids must be in 0..4"):
        discrete(torch.tensor([[1, 7]]))


def test_the_memory_is_built_by_name_and_thinks_between_inputs() -> None:
    torch.manual_seed(8)
    mem = engrammar.build("realnet", in_features=2, num_neurons=5, out_features=2, thinking_steps=3)
    x = torch.rand(2, 4, 2)
    y, state = mem(x)
    assert y.shape == (2, 4, 2) and state["neurons"].shape == (2, 5)
    # The same weights in the documented class, run in sequential mode with 3 steps per token.
    model = RealNet(5, [0, 1], [3, 4])
    model.load_state_dict(mem.state_dict())
    all_states, final = model(x, steps=12)
    torch.testing.assert_close(y, all_states[:, 2::3, 3:])
    torch.testing.assert_close(state["neurons"], final)
    with pytest.raises(SpecError, match=r"in_features: 6 inputs need as many input neurons"):
        engrammar.build("realnet", in_features=6, num_neurons=5, out_features=2)


def test_the_example_wiring_builds_and_trains_with_engrammar_train() -> None:
    from pathlib import Path

    import engrammar_train

    wiring = Path(__file__).resolve().parents[1] / "examples" / "realnet_parity.yaml"
    model = engrammar.build(str(wiring))
    y, _ = model(torch.rand(2, 4, 1))
    assert y.shape == (2, 4, 4)
    x = torch.randint(0, 2, (16, 6, 1)).float()
    targets = x.cumsum(1).remainder(2)
    history = engrammar_train.fit(str(wiring), (x, targets), loss="bce", steps=3, batch_size=8, lr=3e-3)
    assert history.step == 3 and history.model.nodes["core"].spec.thinking_steps == 2
