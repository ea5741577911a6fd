"""engrammar on Lightning's own Trainer.

    from engrammar_lightning import EngrammarModule, EngrammarDataModule
    module = EngrammarModule("lstm", "antipodal", tbptt=50, lr=3e-3, tricks=["ghost_gradients"])
    lightning.Trainer(max_epochs=5).fit(module, datamodule=EngrammarDataModule("antipodal"))

:class:`EngrammarModule` (any component or wiring on any task or loss, the state carried across
truncated-backpropagation chunks), :class:`EngrammarDataModule` (a registry task or your tensors),
:class:`TrainingHooks` (the tricks and loggers of the training hooks as a Lightning callback), and
the seam-gated networks write-up's :class:`SeamGatedLightningModule` and :func:`create_trainer`.
"""

from __future__ import annotations

from .data import EngrammarDataModule
from .hooks import LightningRun, TrainingHooks
from .module import MODULE_SETTINGS, EngrammarModule
from .seam_gated import MODEL_TYPES, SeamGatedLightningModule, create_trainer, model_spec

__all__ = [
    "MODEL_TYPES",
    "MODULE_SETTINGS",
    "EngrammarDataModule",
    "EngrammarModule",
    "LightningRun",
    "SeamGatedLightningModule",
    "TrainingHooks",
    "create_trainer",
    "model_spec",
]
