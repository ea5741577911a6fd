"""Gate traces, statistics (Welch's t-test) and the PNG files."""

from __future__ import annotations

import engrammar
import engrammar.recorder
import pytest
import torch
from engrammar_gated_delta import GatedDeltaRNN, Z2Seam
from engrammar_gated_delta.plots import (
    GateActivationHook,
    gate_statistics,
    plot_gate_heatmap,
    plot_gate_statistics,
    plot_parity_energy_trajectory,
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


PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_write_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    gen = torch.Generator().manual_seed(0)
    regimes = (torch.rand(4, 60, generator=gen) < 0.5).long().cummax(dim=1).values
    switches = regime_switches(regimes)
    switches[1, 30] = True
    gates = torch.rand(4, 60, generator=gen)
    heatmap = plot_gate_heatmap(
        gates, tmp_path / "heat.png", regime_sequence=regimes, transition_mask=switches, time_range=(5, 50)
    )
    violins = plot_gate_statistics(gates, switches, tmp_path / "stats.png", window=2)
    for figure, name in ((heatmap, "heat.png"), (violins, "stats.png")):
        assert type(figure).__name__ == "Figure"
        path = tmp_path / name
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000


def test_the_seed_calls_work_as_written_with_numpy_arrays(tmp_path):
    """The calls of the seam-gated networks write-up, pasted: 1-D masks and regimes in {−1, +1}."""
    pytest.importorskip("matplotlib")
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    gate_activations = rng.random((4, 500))
    parity_energies = rng.random((4, 500))
    regimes = np.ones(500)
    regimes[250:] = -1
    mask = np.zeros(500)
    mask[245:255] = 1
    plot_gate_heatmap(
        gate_activations,
        regime_sequence=regimes,
        transition_mask=mask,
        time_range=(100, 400),
        save_path=str(tmp_path / "gates.png"),
    )
    plot_parity_energy_trajectory(parity_energies, gate_activations, k_star=0.721, regime_sequence=regimes)
    figure = plot_gate_statistics(gate_activations, mask)
    assert "Welch t" in figure._suptitle.get_text()
    assert (tmp_path / "gates.png").read_bytes()[:8] == PNG
    trajectory = plot_parity_energy_trajectory(
        parity_energies, gate_activations, k_star=0.721, save_path=tmp_path / "parity.png", sample=3
    )
    assert len(trajectory.axes) == 2 and (tmp_path / "parity.png").stat().st_size > 10_000


def test_plots_refuse_shapes_that_do_not_match():
    pytest.importorskip("matplotlib")
    gates = torch.rand(2, 10)
    with pytest.raises(ValueError, match="^transition_mask: shape"):
        plot_gate_statistics(gates, torch.zeros(2, 9))
    with pytest.raises(ValueError, match="^parity_energies"):
        plot_parity_energy_trajectory(torch.rand(2, 9), gates)
    with pytest.raises(ValueError, match="^sample: must be in"):
        plot_parity_energy_trajectory(torch.rand(2, 10), gates, sample=2)
    with pytest.raises(ValueError, match="^gate_activations: expected"):
        plot_gate_heatmap(torch.rand(2, 3, 4))


def seam_model():
    torch.manual_seed(0)
    return Z2Seam(in_features=3, hidden_size=4, temperature=0.2, k_star=0.4)


def test_gate_activation_hook_collects_through_the_recorder():
    seam = seam_model()
    x = torch.randn(2, 7, 3)
    with GateActivationHook(seam) as hook:
        seam(x[:, :4])
        seam(x[:, 4:], seam(x[:, :4])[1])  # a second call appends along time
    assert hook.gate_activations["model"].shape == (2, 4 + 4 + 3)
    with engrammar.recording(seam, traces=True) as record:
        seam(x)
    with GateActivationHook(seam) as hook:
        seam(x)
    assert torch.equal(hook.gate_activations["model"], record.trace(seam)["gate"])
    assert torch.equal(hook.parity_energies["model"], record.trace(seam)["parity_energy"])
    assert set(vars(seam)) == set(vars(seam_model()))  # nothing written on the module


def test_gate_activation_hook_in_the_seeds_form_names_each_unit():
    wiring = {
        "in_features": 3,
        "nodes": {
            "seam": {"use": "z2_seam", "hidden_size": 4, "in": "x"},
            "delta": {"use": "gated_delta_rnn", "hidden_size": 4, "delta_rank": 2, "in": "seam"},
        },
        "out": "delta",
    }
    model = engrammar.build(wiring)
    hook = GateActivationHook()
    hook.register(model)
    model(torch.randn(2, 6, 3))
    found = hook.get_activations()
    assert set(found) == {"nodes.seam.gate", "nodes.seam.parity_energy", "nodes.delta.gate"}
    assert all(values.shape == (2, 6) for values in found.values())
    model(torch.randn(2, 5, 3))  # each call replaces the previous one's
    assert hook.gate_activations["nodes.delta"].shape == (2, 5)
    hook.remove()
    model(torch.randn(2, 9, 3))
    assert hook.gate_activations["nodes.delta"].shape == (2, 5)
    single = GateActivationHook().register(seam_model())
    single.model(torch.randn(1, 3, 3))
    assert set(single.get_activations()) == {"gate", "parity_energy"}


def test_gate_activation_hook_closes_its_recording_when_forward_fails():
    seam = seam_model()
    hook = GateActivationHook().register(seam)
    with pytest.raises(ValueError, match="expected x of shape"):
        seam(torch.randn(2, 4, 5))  # wrong width
    assert not engrammar.recorder.is_recording(seam)
    seam(torch.randn(2, 4, 3))
    assert hook.gate_activations["model"].shape == (2, 4)


def test_seam_gates_covers_both_gated_units():
    gates = seam_gates(seam_model(), torch.randn(2, 8, 3))
    assert list(gates) == ["model"] and gates["model"].shape == (2, 8)
