"""Training runs for the tricks' tests: the trainer of engrammar-train on the support tasks."""

from __future__ import annotations

from typing import Any

import engrammar_train
import tricks_support  # noqa: F401  (registers the tasks and the component)

#: plain SGD, nothing else touching the gradient: what a trick does shows in the weights
PLAIN_SGD = [
    "train.optimizer=sgd",
    "train.momentum=0",
    "train.weight_decay=0",
    "train.grad_clip=0",
    "train.lr=0.1",
    "train.eval_every=1000",
]


def run(model: Any, task: Any, *, steps: int, hooks: list[Any] = (), overrides: list[str] = (), **kwargs: Any):
    """``engrammar_train.train`` without a progress bar."""
    return engrammar_train.train(
        model,
        task,
        steps=steps,
        batch_size=kwargs.pop("batch_size", 2),
        hooks=list(hooks),
        overrides=list(overrides),
        progress=False,
        **kwargs,
    )


def weights(result: Any) -> dict[str, Any]:
    return {name: tensor.detach().clone() for name, tensor in result.model.state_dict().items()}
