"""The seam-gated networks write-up's names: SeamGatedLightningModule(model_type, learning_rate,
use_amp) and create_trainer(max_epochs, accelerator, precision), used as the write-up shows."""

from __future__ import annotations

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_lightning import EngrammarDataModule, SeamGatedLightningModule, create_trainer, model_spec
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint


def test_the_model_types_name_engrammar_components() -> None:
    assert model_spec("z2_delta", hidden_size=32) == {"use": "gated_delta_rnn", "z2_symmetric": True, "hidden_size": 32}
    assert model_spec("z2_seam") == {"use": "z2_seam"}
    assert model_spec("lstm") == {"use": "lstm"}
    assert model_spec("gru", hidden_size=8) == {"use": "gru", "hidden_size": 8}
    assert model_spec("examples/lstm_dnc.yaml") == "examples/lstm_dnc.yaml"


def test_z2_delta_is_the_z2_symmetric_gated_delta_rnn_on_antipodal() -> None:
    module = SeamGatedLightningModule(model_type="z2_delta", learning_rate=3e-3, hidden_size=16)
    node = module.model.nodes["gated_delta_rnn"]
    assert type(node).__name__ == "GatedDeltaRNN" and node.spec.z2_symmetric and node.spec.hidden_size == 16
    assert module.config.lr == 3e-3 and module.config.schedule == "onecycle" and module.config.grad_clip == 1.0
    assert type(module.task).__name__ == "Antipodal"
    x = torch.randn(2, 5, 4)
    assert torch.allclose(module.model.nodes["gated_delta_rnn"](-x)[0], -node(x)[0], atol=1e-6)  # odd


def test_z2_seam_is_the_registered_seam_gated_rnn() -> None:
    module = SeamGatedLightningModule("z2_seam", learning_rate=1e-3, hidden_size=8)
    assert type(module.model.nodes["z2_seam"]).__name__ == "Z2Seam"
    assert module.model.nodes["z2_seam"].spec.hidden_size == 8


def test_the_write_up_workflow_runs_and_keeps_the_best_and_last_checkpoints(tmp_path) -> None:
    datamodule = EngrammarDataModule("antipodal", T=40, train_size=48, val_size=16, batch_size=16)
    model = SeamGatedLightningModule(model_type="lstm", learning_rate=1e-2, use_amp=False, hidden_size=8)
    trainer = create_trainer(max_epochs=3, accelerator="cpu", precision="32-true", default_root_dir=tmp_path,
                             logger=False, enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    kinds = {type(c) for c in trainer.callbacks}
    assert EarlyStopping in kinds and ModelCheckpoint in kinds
    trainer.fit(model, datamodule=datamodule)
    assert trainer.global_step == 9
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert "last.ckpt" in names and any(n.startswith("best-") for n in names)


def test_use_amp_runs_the_forward_passes_in_bfloat16(tmp_path) -> None:
    dtypes: list[torch.dtype] = []
    datamodule = EngrammarDataModule("antipodal", T=20, train_size=16, val_size=16, batch_size=16)
    model = SeamGatedLightningModule("z2_delta", 1e-3, use_amp=True, hidden_size=8, settings={"schedule": "constant"})
    model.model.nodes["readout"].proj.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    trainer = create_trainer(max_epochs=1, accelerator="cpu", default_root_dir=tmp_path, logger=False,
                             enable_progress_bar=False, enable_checkpointing=False, num_sanity_val_steps=0)  # fmt: skip
    trainer.fit(model, datamodule=datamodule)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32


def test_create_trainer_refuses_lightning_clipping_of_a_manual_step() -> None:
    with pytest.raises(SpecError, match=r"^gradient_clip_val: the module clips"):
        create_trainer(max_epochs=1, gradient_clip_val=1.0)
