"""copy, repeat_copy and parity: shapes, determinism, targets that mean what the task says, and
the bits-wrong metric on known outputs."""

import engrammar
import pytest
import torch
from engrammar.task import TaskBatch


def _sample(task, batch=16, seed=0) -> TaskBatch:
    return task.sample(batch, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("copy", {"bits": 5, "max_length": 6}),
        ("repeat_copy", {"bits": 3, "max_length": 4, "max_repeats": 3}),
        ("parity", {"length": 9}),
    ],
)
def test_shapes_dtypes_and_determinism(name: str, fields: dict) -> None:
    task = engrammar.build(name, **fields)
    batch = _sample(task)
    assert batch.inputs.dtype == torch.float32 and batch.targets.dtype == torch.float32
    assert batch.inputs.shape[:2] == batch.targets.shape[:2] == batch.mask.shape
    assert batch.inputs.shape[-1] == task.in_features and batch.targets.shape[-1] == task.out_features
    again = _sample(task)
    other = _sample(task, seed=1)
    for a, b in zip((batch.inputs, batch.targets, batch.mask), (again.inputs, again.targets, again.mask)):
        assert torch.equal(a, b)
    assert not torch.equal(batch.inputs, other.inputs)


def test_copy_target_is_input_delayed_past_the_delimiter() -> None:
    task = engrammar.build("copy", bits=4, min_length=2, max_length=7)
    batch = _sample(task, batch=32)
    assert batch.inputs.shape[1] == 15
    lengths = set()
    for b in range(32):
        delimiter = torch.nonzero(batch.inputs[b, :, 4]).flatten()
        assert len(delimiter) == 1
        length = int(delimiter[0])
        lengths.add(length)
        content = batch.inputs[b, :length, :4]
        assert batch.inputs[b, length, :4].abs().sum() == 0  # the delimiter step carries no bits
        assert torch.equal(batch.targets[b, length + 1 : 2 * length + 1], content)
        assert batch.mask[b].nonzero().flatten().tolist() == list(range(length + 1, 2 * length + 1))
        assert batch.inputs[b, length + 1 :].abs().sum() == 0  # nothing to read while writing
    assert min(lengths) >= 2 and max(lengths) <= 7 and len(lengths) > 2


def test_repeat_copy_target_repeats_and_ends() -> None:
    task = engrammar.build("repeat_copy", bits=3, min_length=1, max_length=4, max_repeats=3)
    batch = _sample(task, batch=32)
    seen = set()
    for b in range(32):
        delimiter = torch.nonzero(batch.inputs[b, :, 3]).flatten()
        assert len(delimiter) == 1
        length = int(delimiter[0])
        repeats = round(float(batch.inputs[b, length, 4]) * 3)
        assert 1 <= repeats <= 3 and 1 <= length <= 4
        seen.add((length, repeats))
        assert batch.inputs[b, length, :3].abs().sum() == 0  # the delimiter step carries no bits
        assert batch.inputs[b, length + 1 :].abs().sum() == 0  # nothing to read while writing
        assert batch.inputs[b, :length, 4].abs().sum() == 0  # the count appears at the delimiter only
        content = batch.inputs[b, :length, :3]
        written = batch.targets[b, length + 1 : length + 1 + length * repeats, :3]
        assert torch.equal(written, content.repeat(repeats, 1))
        end = length + 1 + length * repeats
        assert batch.targets[b, :, 3].nonzero().flatten().tolist() == [end]
        assert batch.mask[b].nonzero().flatten().tolist() == list(range(length + 1, end + 1))
    assert len({r for _, r in seen}) == 3 and len({n for n, _ in seen}) > 2  # lengths and counts vary


@pytest.mark.parametrize("target", ["running", "final"])
def test_parity_targets(target: str) -> None:
    task = engrammar.build("parity", length=12, target=target)
    batch = _sample(task)
    bits = batch.inputs[..., 0].long()
    assert set(bits.unique().tolist()) == {0, 1}
    for t in range(12):
        assert torch.equal(batch.targets[:, t, 0].long(), bits[:, : t + 1].sum(1) % 2)
    assert batch.mask.sum() == (16 * 12 if target == "running" else 16)
    if target == "final":
        assert batch.mask[:, -1].all()


def test_bit_errors_on_known_outputs() -> None:
    task = engrammar.build("copy", bits=4, max_length=5)
    batch = _sample(task, batch=4)
    perfect = (batch.targets * 2 - 1) * 10  # logits with the right sign everywhere
    metrics = task.metrics(perfect, batch)
    assert metrics["bit_errors"] == 0 and metrics["bit_accuracy"] == 1.0
    assert metrics["loss"] < 1e-3
    wrong = perfect.clone()
    position = batch.mask.nonzero()[:3]  # three masked positions, one bit each wrong
    for b, t in position.tolist():
        wrong[b, t, 0] = -wrong[b, t, 0]
    assert task.metrics(wrong, batch)["bit_errors"] == pytest.approx(3 / 4)
    # Positions outside the mask never count, however wrong.
    outside = perfect.clone()
    outside[~batch.mask] = -outside[~batch.mask] + 5
    assert task.metrics(outside, batch)["bit_errors"] == 0
    chance = torch.zeros_like(perfect)  # logit 0: predicts 0, and the loss is log 2
    assert task.loss(chance, batch).item() == pytest.approx(0.693147, abs=1e-5)


def test_spec_errors_name_the_field() -> None:
    with pytest.raises(engrammar.SpecError, match="min_length"):
        engrammar.build("copy", min_length=5, max_length=3)
    with pytest.raises(engrammar.SpecError, match="parity.target: must be one of"):
        engrammar.build("parity", target="middle")
