"""engrammar-gated-delta's gate plots read a run folder written by engrammar-train through the
checkpoint's documented layout (no import of the trainer): the model and task come back exactly."""

from __future__ import annotations

import torch
from engrammar_gated_delta.plots import load_run, seam_gates
from engrammar_train import train


def test_load_run_rebuilds_the_trained_model_and_its_task(tmp_path) -> None:
    result = train(
        "gated_delta_rnn",
        "antipodal",
        steps=2,
        batch_size=2,
        out=tmp_path,
        overrides=["hidden_size=8", "task.T=12", "train.eval_batches=1"],
        progress=False,
    )
    model, task = load_run(tmp_path)
    assert type(task).__name__ == "Antipodal" and task.spec.T == 12
    batch = task.sample(2, torch.Generator().manual_seed(3))
    trained = result.model.eval()
    with torch.no_grad():
        assert torch.equal(model(batch.inputs)[0], trained(batch.inputs)[0])
    assert set(seam_gates(model, batch.inputs)) == set(seam_gates(trained, batch.inputs))
