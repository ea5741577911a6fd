"""The seam-gated networks write-up's names, as a thin layer over :class:`EngrammarModule`:

    model = SeamGatedLightningModule(model_type="z2_delta", learning_rate=1e-3, use_amp=True)
    trainer = create_trainer(max_epochs=50, accelerator="gpu", precision="16-mixed")
    trainer.fit(model, datamodule=EngrammarDataModule("antipodal"))

``model_type`` picks a component by the write-up's name (:data:`MODEL_TYPES`): ``z2_delta`` is
``gated_delta_rnn`` with its Z2 symmetry on (engrammar-gated-delta), ``z2_seam`` the registry name
``z2_seam``, ``lstm`` the LSTM of engrammar-controllers; any other registry name or wiring file
works too. The task defaults to ``antipodal`` (engrammar-tasks), the write-up's regime switching.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from engrammar.spec import SpecError
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from .module import EngrammarModule

__all__ = ["MODEL_TYPES", "SeamGatedLightningModule", "create_trainer", "model_spec"]

#: the write-up's model types -> engrammar specs (registry name and fields)
MODEL_TYPES: dict[str, dict[str, Any]] = {
    "z2_delta": {"use": "gated_delta_rnn", "z2_symmetric": True},
    "z2_seam": {"use": "z2_seam"},
    "lstm": {"use": "lstm"},
}


def model_spec(model_type: str, **fields: Any) -> dict[str, Any] | str:
    """The spec of a write-up model type (``{"use": ..., **fields}``); another registry name
    becomes ``{"use": name, **fields}``, a wiring file stays a path (fields are not allowed then)."""
    from engrammar.wiring.loader import is_wiring_path

    if model_type in MODEL_TYPES:
        return {**MODEL_TYPES[model_type], **fields}
    if is_wiring_path(model_type):
        if fields:
            raise SpecError("model_type", "a wiring file takes its fields as overrides, not keywords")
        return model_type
    return {"use": model_type, **fields}


class SeamGatedLightningModule(EngrammarModule):
    """:class:`EngrammarModule` with the write-up's arguments.

    ``model_type``: ``z2_delta``, ``z2_seam``, ``lstm`` (or a registry name / wiring file);
    ``learning_rate``: the peak of OneCycleLR for AdamW; ``use_amp``: the forward passes run under
    ``torch.autocast`` in bfloat16 on the module's device (no gradient scaler is needed for
    bfloat16; a Lightning Trainer with ``precision="16-mixed"`` is float16 AMP with a scaler, and
    needs no ``use_amp``); ``task``: the task (default ``antipodal``); ``hidden_size`` and other
    keywords: the model's fields; ``settings``: further module settings (``tbptt``, ``grad_clip``,
    ``tricks``, ...).
    """

    def __init__(
        self,
        model_type: str = "z2_delta",
        learning_rate: float = 1e-3,
        use_amp: bool = False,
        *,
        task: Any = "antipodal",
        hidden_size: int | None = None,
        settings: dict[str, Any] | None = None,
        **model_fields: Any,
    ) -> None:
        if hidden_size is not None:
            model_fields["hidden_size"] = hidden_size
        spec = model_spec(model_type, **model_fields)
        super().__init__(spec, task, lr=learning_rate, use_amp=use_amp, **(settings or {}))
        self.model_type = model_type


def create_trainer(
    max_epochs: int = 50,
    accelerator: str = "auto",
    precision: str | int = "32-true",
    *,
    devices: int | str = "auto",
    strategy: str = "auto",
    monitor: str = "val_loss",
    mode: str = "min",
    patience: int | None = 10,
    checkpoint_dir: str | Path | None = None,
    default_root_dir: str | Path | None = None,
    callbacks: Iterable[pl.Callback] = (),
    **trainer_options: Any,
) -> pl.Trainer:
    """A Lightning Trainer as the write-up sets it up: mixed precision by ``precision``
    (``"16-mixed"``, ``"bf16-mixed"``), early stopping on ``monitor`` after ``patience`` validations
    without improvement (None: no early stopping), and a ModelCheckpoint keeping the best and the
    last checkpoint (in ``checkpoint_dir``, by default ``<default_root_dir>/checkpoints``; none with
    ``enable_checkpointing=False``). The
    gradient clipping (norm 1.0) and OneCycleLR are the module's (``grad_clip``, ``schedule``).
    Further keywords go to ``lightning.Trainer`` (``limit_train_batches=0.1``, ``logger=False``, ...)."""
    if "gradient_clip_val" in trainer_options:
        raise SpecError(
            "gradient_clip_val", "the module clips (its grad_clip setting); Lightning cannot clip a manual step"
        )
    if mode not in ("min", "max"):
        raise SpecError("mode", f"must be 'min' or 'max', got {mode!r}")
    chosen = list(callbacks)
    if patience is not None:
        chosen.append(EarlyStopping(monitor=monitor, mode=mode, patience=patience))
    dirpath = str(checkpoint_dir) if checkpoint_dir is not None else None
    if trainer_options.get("enable_checkpointing", True):
        chosen.append(
            ModelCheckpoint(
                dirpath=dirpath,
                monitor=monitor,
                mode=mode,
                save_top_k=1,
                save_last=True,
                filename="best-{epoch}-{step}",
            )
        )
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator=accelerator,
        precision=precision,  # type: ignore[arg-type]
        devices=devices,
        strategy=strategy,
        callbacks=chosen,
        default_root_dir=str(default_root_dir) if default_root_dir is not None else None,
        **trainer_options,
    )
