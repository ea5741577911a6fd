"""The audits, each on a model (or loader) built to fail it and on one that passes, the full audit's
recommendations, and ``engrammar audit`` from the command line."""

from __future__ import annotations

import time

import pytest
import test_training_support  # noqa: F401  (registers the test task)
import torch
from engrammar.cli import main
from engrammar_train.audit import (
    DataLoaderAuditor,
    GradientFlowAuditor,
    InitializationAuditor,
    run_full_audit,
)
from torch import Tensor, nn


class LinearRecurrence(nn.Module):
    """h_t = W h_{t-1} + U x_t, read out at every step: (B, T, in) -> (B, T, out)."""

    def __init__(self, in_features: int = 3, hidden: int = 8, out: int = 2, recurrent_scale: float = 0.5) -> None:
        super().__init__()
        self.in_features = in_features
        self.input_proj = nn.Linear(in_features, hidden)
        self.recurrent = nn.Parameter(recurrent_scale * torch.linalg.qr(torch.randn(hidden, hidden))[0])
        self.read_out = nn.Linear(hidden, out)

    def forward(self, x: Tensor) -> Tensor:
        hidden = x.new_zeros(x.shape[0], self.recurrent.shape[0])
        states = []
        for drive in self.input_proj(x).unbind(1):
            hidden = hidden @ self.recurrent.T + drive
            states.append(hidden)
        return self.read_out(torch.stack(states, 1))


class GatedCell(nn.Module):
    """A sigmoid gate over a tanh candidate; ``gate_bias`` shifts the gate's pre-activation."""

    def __init__(self, in_features: int = 3, hidden: int = 6, gate_bias: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.gate = nn.Linear(in_features, hidden)
        self.candidate = nn.Linear(in_features, hidden)
        self.read_out = nn.Linear(hidden, 2)
        with torch.no_grad():
            self.gate.bias.fill_(gate_bias)

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        mixed = torch.sigmoid(self.gate(x)) * torch.tanh(self.candidate(x))
        return self.read_out(mixed), {}  # an engrammar-style (output, state) pair


def backward_once(model: nn.Module, length: int = 40) -> Tensor:
    torch.manual_seed(1)
    x = torch.randn(4, length, model.in_features)
    output = model(x)
    output = output[0] if isinstance(output, tuple) else output
    loss = output.square().mean()
    loss.backward()
    return loss


def report_of(auditor) -> str:
    return "\n".join(auditor.report_lines())


# ---- gradient flow -------------------------------------------------------------------------------


def test_gradient_flow_catches_an_exploding_recurrence():
    torch.manual_seed(0)
    model = LinearRecurrence(recurrent_scale=1.6)  # spectral radius 1.6 over 40 steps
    auditor = GradientFlowAuditor(model)
    stats = auditor.check_gradient_flow(backward_once(model))
    assert stats["recurrent"].status == "exploding" and stats["recurrent"].norm > 1e3
    report = report_of(auditor)
    assert "GRADIENT FLOW AUDIT" in report and "Exploding gradients: " in report
    assert f"Exploding gradients: {len(auditor.names('exploding'))}" in report
    assert "(L2 norm > 10, or inf/NaN)" in report
    assert "clip the gradient norm" in report and "spectral radius" in report
    assert "Gradient flow looks healthy" not in report


def test_gradient_flow_passes_a_contracting_recurrence():
    torch.manual_seed(0)
    model = LinearRecurrence(recurrent_scale=0.5)
    auditor = GradientFlowAuditor(model)
    auditor.check_gradient_flow(backward_once(model))
    report = report_of(auditor)
    assert "Vanishing gradients: 0" in report and "Exploding gradients: 0" in report
    assert "✓ Gradient flow looks healthy!" in report


def test_gradient_flow_names_vanishing_and_unreached_parameters():
    class Damped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.in_features = 3
            self.main = nn.Linear(3, 2)
            self.faint = nn.Linear(3, 2)
            self.unused = nn.Parameter(torch.ones(4))

        def forward(self, x: Tensor) -> Tensor:
            return self.main(x) + 1e-12 * self.faint(x)

    model = Damped()
    auditor = GradientFlowAuditor(model)
    auditor.check_gradient_flow(backward_once(model, length=5))  # the auditor runs no second backward
    assert auditor.names("vanishing") == ["faint.weight", "faint.bias"]
    assert auditor.names("unreached") == ["unused"]
    assert auditor.names("ok") == ["main.weight", "main.bias"]
    advice = " ".join(auditor.advice())
    assert "vanishing gradients in 2 parameter(s)" in advice and "get no gradient" in advice


def test_gradient_flow_runs_backward_itself_when_no_gradient_is_there():
    torch.manual_seed(0)
    model = LinearRecurrence()
    x = torch.randn(2, 5, 3)
    auditor = GradientFlowAuditor(model)
    stats = auditor.check_gradient_flow(model(x).square().mean())
    assert all(s.status == "ok" for s in stats.values())
    assert model.recurrent.grad is not None


def test_gradient_flow_thresholds_are_checked():
    with pytest.raises(ValueError, match="^vanishing_threshold: must be"):
        GradientFlowAuditor(nn.Linear(2, 2), vanishing_threshold=20.0)


# ---- initialization ------------------------------------------------------------------------------


def test_initialization_catches_a_saturated_gate():
    torch.manual_seed(0)
    auditor = InitializationAuditor(GatedCell(gate_bias=8.0))
    auditor.check_initialization()
    (gate,) = auditor.saturated_gates()
    assert (gate.module, gate.activation) == ("<model>", "sigmoid") and gate.saturated_fraction > 0.9
    report = report_of(auditor)
    assert "INITIALIZATION AUDIT" in report and "Saturation risk for sigmoid/tanh gates" in report
    assert "sigmoid pre-activations have |z| > 4" in report
    assert "Initialization looks healthy" not in report


def test_initialization_attributes_gates_to_their_modules():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Sigmoid())
    auditor = InitializationAuditor(model)
    auditor.check_initialization(torch.randn(8, 5, 3) * 50)  # the inputs' scale decides saturation
    assert {(g.module, g.activation) for g in auditor.gates} == {("1", "tanh"), ("3", "sigmoid")}
    assert [g.module for g in auditor.saturated_gates()] == ["1"]
    small = InitializationAuditor(model)
    small.check_initialization(torch.randn(8, 5, 3) * 0.1)
    assert small.saturated_gates() == []


def test_initialization_catches_symmetric_and_badly_scaled_weights():
    torch.manual_seed(0)
    model = GatedCell()
    with torch.no_grad():
        model.candidate.weight.zero_()
        model.read_out.weight.normal_(0, 3.0)  # var · fan-in = 9 · 6 = 54
    auditor = InitializationAuditor(model)
    auditor.check_initialization()
    assert auditor.constant_weights() == ["candidate.weight"]
    assert auditor.off_fan_in() == ["read_out.weight"]
    assert 20 < auditor.weights["read_out.weight"].fan_in_ratio < 120
    advice = " ".join(auditor.advice())
    assert "candidate.weight (6, 3) is zeros" in advice and "too large" in advice


def test_initialization_passes_a_well_made_cell():
    torch.manual_seed(0)
    auditor = InitializationAuditor(GatedCell())
    found = auditor.check_initialization()
    assert len(found["gates"]) == 2 and set(found["weights"]) == {"gate.weight", "candidate.weight", "read_out.weight"}
    assert auditor.advice() == []
    assert "✓ Initialization looks healthy!" in report_of(auditor)


# ---- data loading --------------------------------------------------------------------------------


class SlowDataset(torch.utils.data.Dataset):
    def __init__(self, delay: float, size: int = 8) -> None:
        self.delay, self.size = delay, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        time.sleep(self.delay)
        return torch.randn(4, 3), torch.randn(4, 2)


def test_dataloader_audit_catches_a_slow_loader():
    loader = torch.utils.data.DataLoader(SlowDataset(0.12), batch_size=None)
    auditor = DataLoaderAuditor()
    stats = auditor.benchmark_dataloader(loader, n_batches=3, quiet=True)
    assert stats.batches == 3 and stats.mean_ms > 100 and stats.p95_ms >= stats.median_ms >= 100
    assert stats["mean_ms"] == stats.mean_ms and stats.num_workers == 0
    assert stats.cpu_percent < 50  # sleeping costs no CPU
    report = report_of(auditor)
    assert "DATALOADER BENCHMARK" in report and "Mean batch time: " in report and "CPU usage: " in report
    assert "num_workers=0" in report and "persistent_workers=True" in report


def test_dataloader_audit_passes_a_fast_loader(capsys):
    batches = [(torch.randn(4, 3), torch.randn(4, 2)) for _ in range(30)]
    stats = DataLoaderAuditor().benchmark_dataloader(batches, n_batches=100)
    assert stats.batches == 29  # the first batch is timed apart; the loader ended first
    assert stats.peak_memory_mb > 10
    printed = capsys.readouterr().out
    assert "✓ Data loading is fast!" in printed and "Memory: " in printed


def test_dataloader_audit_refuses_an_empty_loader():
    with pytest.raises(ValueError, match="^dataloader: gave no batch"):
        DataLoaderAuditor().benchmark_dataloader([], n_batches=3)
    with pytest.raises(ValueError, match="^n_batches: must be >= 1"):
        DataLoaderAuditor().benchmark_dataloader([1], n_batches=0)


# ---- the full audit ------------------------------------------------------------------------------


def test_full_audit_recommends_a_fix_for_each_problem(capsys):
    torch.manual_seed(0)
    model = LinearRecurrence(recurrent_scale=1.6)
    with torch.no_grad():
        model.read_out.weight.zero_()
        model.read_out.bias.normal_()
    loader = torch.utils.data.DataLoader(SlowDataset(0.05, size=4), batch_size=None)
    sample = (torch.randn(4, 40, 3), torch.randn(4, 40, 2))
    audit = run_full_audit(model, loader, "cpu", sample_batch=sample, n_batches=2)
    printed = capsys.readouterr().out
    for heading in ("COMPLETE PERFORMANCE AUDIT", "INITIALIZATION AUDIT", "GRADIENT FLOW AUDIT",
                    "DATALOADER BENCHMARK", "MEMORY USAGE", "RECOMMENDATIONS", "AUDIT COMPLETE"):  # fmt: skip
        assert heading in printed
    joined = "\n".join(audit.recommendations)
    assert "read_out.weight (2, 8) is zeros" in joined
    assert "exploding gradients" in joined
    assert "longer than a training step" in joined and "num_workers=0" in joined
    assert all(p.grad is None for p in model.parameters())  # the audit leaves no gradient behind


def test_full_audit_of_a_healthy_model_finds_nothing():
    torch.manual_seed(0)
    batches = [(torch.randn(4, 10, 3), torch.randint(0, 2, (4, 10))) for _ in range(6)]
    audit = run_full_audit(GatedCell(), batches, "cpu", n_batches=4, quiet=True)
    assert audit.recommendations == []
    assert "No problem found" in "\n".join(audit.report_lines())
    assert audit.step_ms > 0 and audit.dataloader.stats is not None


# ---- engrammar audit -----------------------------------------------------------------------------


def test_audit_command_prints_the_report(capsys):
    code = main(["audit", "ema", "--task", "echo_for_tests", "--batches", "3", "--batch-size", "4"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "INITIALIZATION AUDIT" in printed and "GRADIENT FLOW AUDIT" in printed and "AUDIT COMPLETE" in printed
    assert "Parameters: " in printed and "Training step (forward + backward): " in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "no_such_task"], "no_such_task"),
        (["--task", "echo_for_tests", "--batches", "0"], "--batches: must be >= 1, got 0"),
        (["--task", "echo_for_tests", "--set", "train.lr=0.1"], "train.lr: an audit does not train"),
        (["--task", "echo_for_tests", "--set", "task.bits=0"], "bits"),
    ],
)
def test_audit_command_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code = main(["audit", "ema", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
