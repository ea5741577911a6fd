"""lstm and gru: fused whole-sequence path, cell step and written-out reference agree in values and
gradients; the spec mirrors PyTorch's."""

import engrammar
import pytest
import torch
from engrammar.spec import SpecError
from engrammar_controllers.naive import gru_reference, lstm_reference


def _build(name: str, **fields: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return engrammar.build(name, in_features=3, **fields).double()


def _steps(model, x, state):
    outputs = []
    for t in range(x.shape[1]):
        y_t, state = model.step(x[:, t], state)
        outputs.append(y_t)
    return torch.stack(outputs, 1), state


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_lstm_sequence_step_and_reference_agree(num_layers: int) -> None:
    model = _build("lstm", hidden_size=5, num_layers=num_layers)
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    start = {k: torch.randn_like(v) for k, v in model.init_state(2).items()}
    y, state = model(x, start)
    y_step, state_step = _steps(model, x, start)
    y_ref, h_ref, c_ref = lstm_reference(model, x, start["h"], start["c"])
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(y_step, y_ref)
    torch.testing.assert_close(state["h"], h_ref)
    torch.testing.assert_close(state["c"], c_ref)
    torch.testing.assert_close(state_step["c"], c_ref)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_gru_sequence_step_and_reference_agree(num_layers: int) -> None:
    model = _build("gru", hidden_size=4, num_layers=num_layers)
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    start = {"h": torch.randn(3, num_layers, 4, dtype=torch.float64)}
    y, state = model(x, start)
    y_step, state_step = _steps(model, x, start)
    y_ref, h_ref = gru_reference(model, x, start["h"])
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(y_step, y_ref)
    torch.testing.assert_close(state["h"], h_ref)
    torch.testing.assert_close(state_step["h"], h_ref)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_fused_and_step_gradients_match_reference(name: str) -> None:
    model = _build(name, hidden_size=4, num_layers=2)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    weights = torch.randn(2, 6, 4, dtype=torch.float64)

    def grads(run) -> list[torch.Tensor]:
        model.zero_grad()
        (run() * weights).sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    zeros = torch.zeros(2, 2, 4, dtype=torch.float64)
    if name == "lstm":
        reference = grads(lambda: lstm_reference(model, x, zeros, zeros)[0])
    else:
        reference = grads(lambda: gru_reference(model, x, zeros)[0])
    for got in (grads(lambda: model(x)[0]), grads(lambda: _steps(model, x, None)[0])):
        for a, b in zip(got, reference):
            torch.testing.assert_close(a, b)


def test_step_dropout_matches_fused_semantics() -> None:
    """In training, dropout acts between layers only: with p=1 the upper layer sees zeros."""
    model = _build("lstm", hidden_size=4, num_layers=2, dropout=1.0).train()
    x = torch.randn(2, 3, 3, dtype=torch.float64)
    y_fused, _ = model(x)
    y_step, _ = _steps(model, x, None)
    torch.testing.assert_close(y_step, y_fused)  # both equal the second layer run on zero inputs
    model.eval()
    assert not torch.allclose(model(x)[0], y_fused)


def test_state_is_batch_first() -> None:
    model = _build("lstm", hidden_size=5, num_layers=2)
    state = model.init_state(7)
    assert state["h"].shape == (7, 2, 5) and state["c"].shape == (7, 2, 5)


def test_bad_spec_names_the_field() -> None:
    with pytest.raises(SpecError, match="lstm.hidden_size: must be >= 1"):
        engrammar.build("lstm", in_features=3, hidden_size=0)
    with pytest.raises(SpecError, match="dropout"):
        engrammar.build("gru", in_features=3, dropout=1.5)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_cpu_autocast_runs_the_fused_path_in_fp32(name: str) -> None:
    """oneDNN lacks a bf16 fused RNN on many CPUs; under CPU autocast the fused path runs in fp32."""
    torch.manual_seed(0)
    model = engrammar.build(name, in_features=3, hidden_size=8, num_layers=2)
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = model(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, model(x)[0])
