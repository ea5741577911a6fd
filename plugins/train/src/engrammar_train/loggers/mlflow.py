"""``mlflow``: one MLflow run per training run: the settings as parameters, the records as metrics
(``train_loss``, ``eval_accuracy``, ... by step). A resumed run continues the same MLflow run."""

from __future__ import annotations

from typing import Any

from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, field, spec

__all__ = ["MLflowLogger", "MLflowSpec"]


@spec
class MLflowSpec:
    tracking_uri: str | None = field(
        default=None, doc="MLflow tracking URI (default: sqlite database mlflow.db in the run folder)"
    )
    experiment: str = field(default="engrammar", doc="experiment name (created when missing)")
    run_name: str | None = field(default=None, doc="the run's name (default: the run folder's name)")


class MLflowLogger:
    spec_cls = MLflowSpec

    def __init__(self, spec: MLflowSpec | None = None) -> None:
        self.spec = spec or MLflowSpec()
        self.client: Any = None
        self.run_id: str | None = None

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise SpecError("mlflow", "needs the mlflow package: pip install mlflow") from None
        uri = self.spec.tracking_uri
        if uri is None:
            if trainer.out_dir is None:
                raise SpecError("mlflow.tracking_uri", "give a tracking URI, or a run folder (out=...)")
            uri = f"sqlite:///{(trainer.out_dir / 'mlflow.db').resolve()}"
        self.client = MlflowClient(tracking_uri=uri)
        if self.run_id is None:  # not restored from a checkpoint: a new MLflow run
            experiment = self.client.get_experiment_by_name(self.spec.experiment)
            experiment_id = (
                experiment.experiment_id if experiment else self.client.create_experiment(self.spec.experiment)
            )
            name = self.spec.run_name or (trainer.out_dir.name if trainer.out_dir is not None else None)
            self.run_id = self.client.create_run(experiment_id, run_name=name).info.run_id
            for key, value in _flatten(trainer.describe()).items():
                self.client.log_param(self.run_id, key, value)

    @hookimpl
    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.client is None or self.run_id is None:
            return
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(f"{record['split']}_{name}", float(value), now, int(record["step"]))
            for name, value in record.items()
            if name not in ("step", "split") and isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        self.client.log_batch(self.run_id, metrics=metrics)

    @hookimpl
    def on_checkpoint_save(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        if self.run_id is not None:
            checkpoint["mlflow_run_id"] = self.run_id

    @hookimpl
    def on_checkpoint_load(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        self.run_id = checkpoint.get("mlflow_run_id", self.run_id)

    @hookimpl
    def on_train_end(self, trainer: Any) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id)


def _flatten(data: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(data, dict):
        flat: dict[str, str] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): str(data)[:500]}  # MLflow caps parameter values
