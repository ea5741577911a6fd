"""Run by the DDP tests in fresh processes (Lightning Fabric starts this script again for every
further process): ``python ddp_run.py cli ARGS...`` is the ``engrammar`` command with the tests'
task and component registered; ``python ddp_run.py fit OUT SETTINGS_JSON`` trains on a fixed
regression set and writes each process's parameters to ``OUT/rank<R>.safetensors``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import test_training_support  # noqa: F401  (registers the test task and component)
import torch


def regression(samples: int = 48):
    """A fixed float64 regression set: (N, T, 3) sequences, per-step targets (N, T, 2)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, 5, 3, generator=generator, dtype=torch.float64)
    y = torch.stack([x.cumsum(1)[..., 0], x[..., 1] * x[..., 2]], dim=-1)
    return x, y


def fit_and_save(out: str, settings: dict) -> None:
    from engrammar_train import fit
    from safetensors.torch import save_file

    history = fit("noisy_rnn_for_tests", regression(), loss="mse", out=out, **settings)
    parameters = {name: p.detach().cpu().contiguous() for name, p in history.model.named_parameters()}
    save_file(parameters, str(Path(out) / f"rank{history.trainer.rank}.safetensors"))


if __name__ == "__main__":
    if sys.argv[1] == "cli":
        from engrammar.cli import main

        sys.exit(main(sys.argv[2:]))
    fit_and_save(sys.argv[2], json.loads(sys.argv[3]))
