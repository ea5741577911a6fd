"""associative_recall and mqar: shapes, determinism, every query's target is its key's value, and
accuracy on known outputs."""

import engrammar
import pytest
import torch
from engrammar.task import TaskBatch


def _sample(task, batch=16, seed=0) -> TaskBatch:
    return task.sample(batch, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("associative_recall", {"vocab_size": 12, "num_pairs": 5}),
        ("mqar", {"vocab_size": 32, "seq_len": 40, "num_pairs": 6}),
    ],
)
def test_shapes_dtypes_and_determinism(name: str, fields: dict) -> None:
    task = engrammar.build(name, **fields)
    batch = _sample(task)
    assert batch.inputs.shape[-1] == task.in_features == fields["vocab_size"]
    assert task.out_features == fields["vocab_size"]
    assert batch.targets.dtype == torch.int64 and batch.targets.shape == batch.mask.shape == batch.inputs.shape[:2]
    assert torch.equal(batch.inputs.sum(-1), torch.ones(batch.mask.shape))  # one-hot
    again, other = _sample(task), _sample(task, seed=1)
    assert torch.equal(batch.inputs, again.inputs) and torch.equal(batch.targets, again.targets)
    assert torch.equal(batch.mask, again.mask)
    assert not torch.equal(batch.inputs, other.inputs)


def test_associative_recall_target_is_the_queried_keys_value() -> None:
    task = engrammar.build("associative_recall", vocab_size=16, num_pairs=6)
    batch = _sample(task, batch=64)
    tokens = batch.inputs.argmax(-1)
    assert tokens.shape == (64, 13)
    assert batch.mask[:, -1].all() and batch.mask.sum() == 64
    keys, values = tokens[:, 0:12:2], tokens[:, 1:12:2]
    assert (keys < 8).all() and (values >= 8).all()
    for b in range(64):
        assert len(set(keys[b].tolist())) == 6
        where = (keys[b] == tokens[b, -1]).nonzero().flatten()
        assert len(where) == 1
        assert batch.targets[b, -1] == values[b, where[0]]
    asked = {int((keys[b] == tokens[b, -1]).nonzero()[0]) for b in range(64)}
    assert len(asked) > 3  # queries are spread over the pairs


@pytest.mark.parametrize("random_non_queries", [True, False])
def test_mqar_every_key_is_queried_once_with_its_value(random_non_queries: bool) -> None:
    task = engrammar.build("mqar", vocab_size=32, seq_len=48, num_pairs=6, random_non_queries=random_non_queries)
    batch = _sample(task, batch=32)
    tokens = batch.inputs.argmax(-1)
    assert (batch.mask.sum(1) == 6).all()
    assert not batch.mask[:, :12].any()
    for b in range(32):
        keys, values = tokens[b, 0:12:2].tolist(), tokens[b, 1:12:2].tolist()
        value_of = dict(zip(keys, values))
        assert len(value_of) == 6 and all(0 < k < 16 for k in keys) and all(v >= 16 for v in values)
        positions = batch.mask[b].nonzero().flatten()
        assert all((p - 12) % 2 == 0 for p in positions.tolist())
        queried = tokens[b, positions].tolist()
        assert sorted(queried) == sorted(keys)
        assert batch.targets[b, positions].tolist() == [value_of[k] for k in queried]
        filler = tokens[b, 12:][~batch.mask[b, 12:]]
        assert bool((filler == 0).all()) != random_non_queries


def test_mqar_power_law_prefers_early_slots() -> None:
    task = engrammar.build("mqar", vocab_size=32, seq_len=256, num_pairs=2, power_a=0.01, random_non_queries=False)
    batch = _sample(task, batch=256)
    positions = batch.mask.nonzero()[:, 1]
    slots = (positions - 4) // 2
    assert (slots < 10).float().mean() > 0.4  # under uniform placement this would be ~0.08


def test_accuracy_on_known_outputs() -> None:
    task = engrammar.build("mqar", vocab_size=16, seq_len=16, num_pairs=2)
    batch = _sample(task, batch=4)
    perfect = torch.nn.functional.one_hot(batch.targets, 16).float() * 20
    assert task.metrics(perfect, batch)["accuracy"] == 1.0
    half_wrong = perfect.clone()
    rows = batch.mask.nonzero()
    for b, t in rows[::2].tolist():  # every other query answered with another token
        half_wrong[b, t] = torch.roll(half_wrong[b, t], 1)
    assert task.metrics(half_wrong, batch)["accuracy"] == pytest.approx(0.5)
    uniform = torch.zeros(4, 16, 16)
    assert task.loss(uniform, batch).item() == pytest.approx(torch.log(torch.tensor(16.0)).item(), abs=1e-5)


def test_spec_errors() -> None:
    with pytest.raises(engrammar.SpecError, match="seq_len"):
        engrammar.build("mqar", seq_len=16, num_pairs=8)
    with pytest.raises(engrammar.SpecError, match="num_pairs"):
        engrammar.build("associative_recall", vocab_size=8, num_pairs=5)
