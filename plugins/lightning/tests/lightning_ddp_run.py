"""Run by the DDP test in a fresh process (Lightning starts this script again for the second
process): ``python ddp_run.py OUT`` trains a small model with 2 CPU processes (DDP over gloo)
and writes each process's parameters to ``OUT/rank<R>.safetensors`` and its initial ones to
``OUT/initial.safetensors``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import lightning.pytorch as pl
from engrammar_lightning import EngrammarDataModule, EngrammarModule
from lightning_support import parameters, regression
from safetensors.torch import save_file


def main(out: Path) -> None:
    x, y = regression(samples=16, steps=6)
    data = EngrammarDataModule.from_tensors(x, y, batch_size=4, seed=1)
    module = EngrammarModule("gru", data, overrides={"hidden_size": 5}, lr=0.02, tbptt=3, seed=2, schedule="cosine",
                             tricks=["synaptic_noise:std=0.001"])  # fmt: skip
    module.double()
    initial = {name: t.contiguous() for name, t in parameters(module.model).items()}
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", precision="64-true", max_epochs=2, logger=False,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        default_root_dir=str(out),
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    final = {name: t.contiguous() for name, t in parameters(module.model).items()}
    save_file(final, str(out / f"rank{trainer.global_rank}.safetensors"))
    if trainer.global_rank == 0:
        save_file(initial, str(out / "initial.safetensors"))
        (out / "steps.txt").write_text(str(trainer.global_step))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
