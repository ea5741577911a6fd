"""Every task's metric on outputs whose answer is known: perfect, fully wrong, and ignored positions."""

import engrammar
import pytest
import torch
from torch.nn import functional as F

TASKS = [
    ("copy", {"bits": 4, "max_length": 5}),
    ("repeat_copy", {"bits": 3, "max_length": 3, "max_repeats": 2}),
    ("parity", {"length": 7}),
    ("associative_recall", {"vocab_size": 12, "num_pairs": 3}),
    ("mqar", {"vocab_size": 16, "seq_len": 24, "num_pairs": 3}),
]


def _perfect(task, batch) -> torch.Tensor:
    if task.metric_name == "bit_errors":
        return (batch.targets * 2 - 1) * 20
    return F.one_hot(batch.targets, task.out_features).float() * 20


@pytest.mark.parametrize(("name", "fields"), TASKS)
def test_perfect_and_wrong_outputs(name: str, fields: dict) -> None:
    task = engrammar.build(name, **fields)
    batch = task.sample(8, torch.Generator().manual_seed(0))
    perfect = _perfect(task, batch)
    best = task.metrics(perfect, batch)
    assert best["loss"] < 1e-3
    if task.metric_name == "bit_errors":
        assert not task.higher_is_better and best["bit_errors"] == 0
        wrong = task.metrics(-perfect, batch)  # every bit flipped
        counted = batch.mask.sum() * task.out_features
        assert wrong["bit_errors"] == pytest.approx(float(counted) / 8)
    else:
        assert task.higher_is_better and best["accuracy"] == 1.0
        shifted = torch.roll(perfect, 1, dims=-1)  # every answer one token off
        assert task.metrics(shifted, batch)["accuracy"] == 0.0
    # Whatever the model outputs where the mask is false changes nothing.
    noise = torch.randn_like(perfect) * 50
    masked = torch.where(batch.mask.reshape(*batch.mask.shape, 1), perfect, noise)
    assert task.metrics(masked, batch) == pytest.approx(best)
