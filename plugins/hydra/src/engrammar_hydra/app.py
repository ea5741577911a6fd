"""The ``engrammar-hydra`` application: one training run of a model on a task with Lightning's
Trainer, configured by the shipped config tree (``conf/``) and Hydra's overrides.

    engrammar-hydra model=z2_delta trainer=fast
    engrammar-hydra model.hidden_size=128 data.T=5000
    engrammar-hydra -m model=z2_seam,z2_delta,lstm model.hidden_size=32,64,128
    engrammar-hydra --config-dir my_configs model=my_model      # your own model configs

A run: instantiate the data (``cfg.data``: an EngrammarDataModule), check the model config
against the components' specs (:mod:`engrammar_hydra.models`), make an
:class:`engrammar_lightning.EngrammarModule` (``learning_rate``, ``seed``, ``use_amp``,
``module``: further settings), instantiate the Lightning Trainer (``cfg.trainer``), fit, validate,
and write ``result.json`` (the validation metrics, steps, epochs, seconds, the best checkpoint)
into Hydra's output folder, where Lightning's logs and checkpoints go too. A multirun writes
``summary.csv`` and ``summary.md`` in the sweep folder (:mod:`engrammar_hydra.summary`).

A bad config stops a single run with one line naming the field; in a multirun it goes into that
job's ``result.json`` (and the summary) and the other jobs go on.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from engrammar.spec import SpecError
from omegaconf import DictConfig, OmegaConf

__all__ = ["RESULT_NAME", "main", "run"]

RESULT_NAME = "result.json"


def _container(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def run(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train as ``cfg`` says, with logs, checkpoints and ``result.json`` in ``out_dir``; returns
    the result (``metrics``: the last validation, ``steps``, ``epochs``, ``seconds``, ...)."""
    from engrammar_lightning import EngrammarModule
    from hydra.utils import instantiate

    from .models import check_model, model_data

    started = time.perf_counter()
    out = Path(out_dir)
    datamodule = instantiate(cfg.data)
    model = model_data(_container(cfg.model), [str(d) for d in cfg.get("node_dirs") or []])
    check_model(model, datamodule.task.in_features)
    settings = dict(_container(cfg.get("module")) or {})
    module = EngrammarModule(model, datamodule, lr=float(cfg.learning_rate), seed=int(cfg.seed),
                             use_amp=bool(cfg.get("use_amp", False)), **settings)  # fmt: skip
    trainer = instantiate(cfg.trainer, default_root_dir=str(out))
    trainer.fit(module, datamodule=datamodule)
    metrics = module.validation_metrics()
    checkpoint = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    result = {
        "metrics": metrics,
        "steps": int(trainer.global_step),
        "epochs": int(trainer.current_epoch),
        "seconds": round(time.perf_counter() - started, 2),
        "best_checkpoint": checkpoint,
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "model": module.recipe,
    }
    (out / RESULT_NAME).write_text(json.dumps(result, indent=2) + "\n")
    return result


@hydra.main(version_base=None, config_path="conf", config_name="config")
def _app(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_config = HydraConfig.get()
    out = Path(hydra_config.runtime.output_dir)
    try:
        result = run(cfg, out)
    except SpecError as err:
        if hydra_config.mode != RunMode.MULTIRUN:
            print(f"engrammar-hydra: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        (out / RESULT_NAME).write_text(json.dumps({"error": str(err)}, indent=2) + "\n")
        return math.nan
    return float(result["metrics"].get("loss", math.nan))


def main() -> None:
    """The ``engrammar-hydra`` command (Hydra reads ``sys.argv``; model field overrides are
    checked first, see :mod:`engrammar_hydra.overrides`)."""
    from .overrides import prepare_overrides

    try:
        sys.argv[1:] = prepare_overrides(sys.argv[1:])
    except SpecError as err:
        print(f"engrammar-hydra: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    _app()


if __name__ == "__main__":
    main()
