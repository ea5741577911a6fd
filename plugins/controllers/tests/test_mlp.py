"""mlp: layer structure follows the spec; a whole sequence equals the net applied per step."""

import engrammar
import pytest
import torch
from torch import nn


def test_depth_norm_activation_and_output_width() -> None:
    model = engrammar.build(
        "mlp", in_features=3, hidden_size=5, num_layers=3, activation="tanh", normalization="layer", out_features=2
    )
    linears = [m for m in model.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 5), (5, 5), (5, 5), (5, 2)]
    assert sum(isinstance(m, nn.LayerNorm) for m in model.net) == 3
    assert sum(isinstance(m, nn.Tanh) for m in model.net) == 3
    assert model.out_features == 2


def test_without_out_features_outputs_last_hidden_layer() -> None:
    model = engrammar.build("mlp", in_features=3, hidden_size=6, num_layers=1, normalization="rms")
    assert model.out_features == 6
    assert any(isinstance(m, nn.RMSNorm) for m in model.net)
    y, state = model(torch.randn(2, 4, 3))
    assert y.shape == (2, 4, 6) and state == {}


def test_sequence_equals_per_step_and_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    model = engrammar.build("mlp", in_features=3, hidden_size=8, dropout=0.5)
    x = torch.randn(2, 5, 3)
    model.eval()
    y, _ = model(x)
    per_step = torch.stack([model.step(x[:, t])[0] for t in range(5)], 1)
    torch.testing.assert_close(per_step, y)
    model.train()
    assert not torch.allclose(model(x)[0], y)


def test_unknown_activation_is_a_spec_error() -> None:
    with pytest.raises(engrammar.SpecError, match="activation: must be one of"):
        engrammar.build("mlp", in_features=3, activation="swish")
