"""Every task's stated chance level is what guessing scores (measured on generated batches), and
its threshold is reached by perfect outputs and missed by guesses."""

import engrammar
import pytest
import torch
from torch.nn import functional as F

TASKS = [
    ("copy", {"bits": 4, "min_length": 2, "max_length": 5}),
    ("repeat_copy", {"bits": 3, "max_length": 3, "max_repeats": 2}),
    ("parity", {"length": 7}),
    ("parity", {"length": 7, "target": "final"}),
    ("priority_sort", {"bits": 3, "min_length": 2, "max_length": 5}),
    ("priority_sort", {"bits": 3, "min_length": 4, "max_length": 5, "num_outputs": 2}),
    ("associative_recall", {"vocab_size": 12, "num_pairs": 3}),
    ("mqar", {"vocab_size": 16, "seq_len": 24, "num_pairs": 3}),
    ("antipodal", {"T": 40}),
    ("n_back", {"n": 2, "length": 12}),
    ("n_back", {"n": 1, "length": 12, "p_match": 0.2}),
    ("xor", {"delay": 2}),
    ("sine", {"length": 40, "vary_amplitude": True}),
    ("babi_like", {"variant": 2, "sentences": 3, "places": 5}),
]


def _guess(task, batch, generator) -> torch.Tensor:
    """What a model without memory can do: coin flips for bits, a uniform pick among the values a
    recall answer can take, a constant best guess for n_back, zero for the wave."""
    if task.out_features == 1 and task.metric_name == "accuracy":  # n_back, xor: the likelier answer
        p_one = float(getattr(task.spec, "p_match", 0.5))
        return torch.full(batch.targets.shape, 1.0 if p_one > 0.5 else -1.0)
    if batch.targets.dim() == 3 and task.metric_name == "bit_errors":
        return torch.randn(batch.targets.shape, generator=generator)
    if task.metric_name == "mse":
        return torch.zeros_like(batch.targets)
    vocab = task.out_features
    if task.metric_name == "accuracy" and hasattr(task.spec, "p_switch"):  # antipodal: a coin per step
        picks = torch.randint(0, 2, batch.targets.shape, generator=generator)
    elif hasattr(task.spec, "places"):  # babi_like: a place
        from engrammar_tasks.babi_like import PLACES, VOCABULARY

        places = torch.tensor([VOCABULARY.index(p) for p in PLACES[: task.spec.places]])
        picks = places[torch.randint(0, len(places), batch.targets.shape, generator=generator)]
    else:  # recall: a value token
        picks = torch.randint(vocab // 2, vocab, batch.targets.shape, generator=generator)
    return F.one_hot(picks, vocab).float()


def _perfect(task, batch) -> torch.Tensor:
    if batch.targets.dim() == 3 and task.metric_name != "mse":
        return (batch.targets * 2 - 1) * 20
    if task.metric_name == "mse":
        return batch.targets.clone()
    return F.one_hot(batch.targets, task.out_features).float() * 20


@pytest.mark.parametrize(("name", "fields"), TASKS)
def test_guessing_scores_the_chance_level_and_misses_the_threshold(name: str, fields: dict) -> None:
    task = engrammar.build(name, **fields)
    generator = torch.Generator().manual_seed(0)
    scores = []
    for _ in range(30):
        batch = task.sample(64, generator)
        scores.append(task.metrics(_guess(task, batch, generator), batch)[task.metric_name])
    measured = sum(scores) / len(scores)
    assert measured == pytest.approx(task.chance_level, rel=0.1), (measured, task.chance_level)
    assert not task.solved(measured)
    batch = task.sample(64, generator)
    assert task.solved(task.metrics(_perfect(task, batch), batch)[task.metric_name])
    better = task.threshold > task.chance_level if task.higher_is_better else task.threshold < task.chance_level
    assert better


def test_solved_follows_the_direction_and_never_counts_nan() -> None:
    copy, recall = engrammar.build("copy", bits=4, max_length=5), engrammar.build("associative_recall")
    assert copy.solved(copy.threshold) and not copy.solved(copy.threshold + 0.01)
    assert recall.solved(0.95) and not recall.solved(0.5)
    assert not recall.solved(float("nan"))


def test_a_task_states_neither_by_default() -> None:
    from engrammar.task import Task

    class Bare(Task):
        pass

    bare = Bare()
    assert bare.chance_level is None and bare.threshold is None and not bare.solved(0.0)
