"""Gate traces, statistics (Welch's t-test) and the PNG files."""

from __future__ import annotations

import pytest
import torch
from engrammar_gated_delta import GatedDeltaRNN
from engrammar_gated_delta.plots import (
    gate_statistics,
    plot_gate_heatmap,
    plot_gate_statistics,
    regime_switches,
    seam_gates,
    welch_t_test,
)


def test_seam_gates_finds_the_unit_and_matches_its_trace():
    torch.manual_seed(0)
    model = GatedDeltaRNN(in_features=3, hidden_size=4, delta_rank=2, trace=True)
    x = torch.randn(2, 9, 3)
    gates = seam_gates(model, x)
    assert list(gates) == ["model"]
    y, _ = model(x)
    assert torch.allclose(gates["model"], y[..., -1])  # the traced column is the same gate


def test_regime_switches():
    regimes = torch.tensor([[0, 0, 1, 1, 0], [1, 1, 1, 1, 1]])
    assert regime_switches(regimes).tolist() == [
        [False, False, True, False, True],
        [False, False, False, False, False],
    ]


def test_welch_t_test_against_scipy_and_by_construction():
    stats = pytest.importorskip("scipy.stats")
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(40, generator=gen, dtype=torch.float64) * 2 + 1
    b = torch.randn(300, generator=gen, dtype=torch.float64)
    ours = welch_t_test(a, b)
    theirs = stats.ttest_ind(a.numpy(), b.numpy(), equal_var=False)
    assert ours["t"] == pytest.approx(theirs.statistic, rel=1e-10)
    assert ours["p"] == pytest.approx(theirs.pvalue, rel=1e-8)
    same = welch_t_test(b[:150], b[150:])
    assert same["p"] > 0.01


def test_gate_statistics_separates_switch_steps():
    switches = torch.zeros(2, 50, dtype=torch.bool)
    switches[0, [10, 30]] = True
    switches[1, 20] = True
    gates = torch.full((2, 50), 0.1) + torch.rand(2, 50, generator=torch.Generator().manual_seed(0)) * 0.05
    gates[0, [10, 11, 30, 31]] = 0.9
    gates[1, [20, 21]] = 0.8
    result = gate_statistics(gates, switches, window=2)
    assert result["count_at_switch"] == 6 and result["count_stable"] == 94
    assert result["mean_at_switch"] > 0.8 > 0.2 > result["mean_stable"]
    assert result["t"] > 10
    one_step = gate_statistics(gates, switches, window=1)
    assert one_step["count_at_switch"] == 3


def test_plots_write_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    gen = torch.Generator().manual_seed(0)
    regimes = (torch.rand(4, 60, generator=gen) < 0.5).long().cummax(dim=1).values
    switches = regime_switches(regimes)
    switches[1, 30] = True
    gates = torch.rand(4, 60, generator=gen)
    heatmap = plot_gate_heatmap(gates, tmp_path / "heat.png", regimes=regimes, switches=switches, time_range=(5, 50))
    violins = plot_gate_statistics(gates, switches, tmp_path / "stats.png", window=2)
    for path in (heatmap, violins):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
