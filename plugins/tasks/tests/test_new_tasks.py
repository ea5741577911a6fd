"""priority_sort, n_back, xor, sine and babi_like: the tensor generators against plain-Python
readings of the same inputs (what the task means), determinism, and spec errors."""

import math

import engrammar
import pytest
import torch
from engrammar_tasks.babi_like import NAMES, OBJECTS, PLACES, decode

GENERATED = [
    ("priority_sort", {"bits": 3, "min_length": 2, "max_length": 6}),
    ("priority_sort", {"bits": 2, "min_length": 4, "max_length": 6, "num_outputs": 3}),
    ("n_back", {"n": 3, "length": 11, "vocab_size": 3}),
    ("xor", {"delay": 2}),
    ("xor", {"delay": 0, "continuous": True}),
    ("sine", {"length": 12, "mode": "pulse", "vary_amplitude": True, "vary_phase": True}),
    ("babi_like", {"variant": 1, "sentences": 3}),
    ("babi_like", {"variant": 2, "sentences": 5}),
]


def _sample(task, batch=32, seed=0):
    return task.sample(batch, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("name", "fields"), GENERATED)
def test_shapes_widths_and_determinism(name: str, fields: dict) -> None:
    task = engrammar.build(name, **fields)
    batch = _sample(task)
    assert batch.inputs.dtype == torch.float32
    assert batch.inputs.shape[:2] == batch.mask.shape == batch.targets.shape[:2]
    assert batch.inputs.shape[-1] == task.in_features
    if batch.targets.dim() == 3:
        assert batch.targets.shape[-1] == task.out_features
    else:
        assert batch.targets.dtype == torch.int64 and int(batch.targets.max()) < task.out_features
    assert batch.mask.any(dim=1).all()  # every sample scores something
    again, other = _sample(task), _sample(task, seed=1)
    for a, b in zip((batch.inputs, batch.targets, batch.mask), (again.inputs, again.targets, again.mask)):
        assert torch.equal(a, b)
    assert not torch.equal(batch.inputs, other.inputs)


@pytest.mark.parametrize("num_outputs", [None, 3])
def test_priority_sort_writes_the_vectors_by_falling_priority(num_outputs) -> None:
    task = engrammar.build("priority_sort", bits=3, min_length=3, max_length=6, num_outputs=num_outputs)
    batch = _sample(task, batch=48)
    lengths = set()
    for b in range(48):
        delimiter = batch.inputs[b, :, 4].nonzero().flatten().tolist()
        assert len(delimiter) == 1
        length = delimiter[0]
        lengths.add(length)
        items = [(float(batch.inputs[b, t, 3]), batch.inputs[b, t, :3]) for t in range(length)]
        assert all(-1 <= p <= 1 for p, _ in items)
        ordered = [bits for _, bits in sorted(items, key=lambda item: -item[0])][: num_outputs or length]
        written = batch.mask[b].nonzero().flatten().tolist()
        assert written == list(range(length + 1, length + 1 + len(ordered)))
        for t, bits in zip(written, ordered):
            assert torch.equal(batch.targets[b, t], bits)
        assert batch.inputs[b, length + 1 :].abs().sum() == 0  # nothing to read while writing
    assert lengths == {3, 4, 5, 6}


def test_priority_sort_rejects_more_outputs_than_vectors() -> None:
    with pytest.raises(engrammar.SpecError, match="num_outputs"):
        engrammar.build("priority_sort", min_length=3, max_length=5, num_outputs=4)


def test_n_back_targets_compare_with_n_steps_back_and_are_balanced() -> None:
    task = engrammar.build("n_back", n=3, length=20, vocab_size=4, p_match=0.5)
    batch = _sample(task, batch=200)
    tokens = batch.inputs.argmax(dim=-1).tolist()
    assert torch.equal(batch.inputs.sum(-1), torch.ones(200, 20))  # one-hot
    for b in range(200):
        for t in range(20):
            assert bool(batch.mask[b, t]) == (t >= 3)
            expected = float(t >= 3 and tokens[b][t] == tokens[b][t - 3])
            assert float(batch.targets[b, t, 0]) == expected
    share = float(batch.targets[batch.mask].mean())
    assert 0.45 < share < 0.55  # p_match = 0.5, 3400 scored steps


def test_n_back_without_matches_and_its_metric() -> None:
    task = engrammar.build("n_back", n=1, length=10, vocab_size=2, p_match=0.0)
    batch = _sample(task)
    assert batch.targets.sum() == 0  # with two tokens and no matches, the stream alternates
    assert task.chance_level == 1.0
    perfect = (batch.targets * 2 - 1) * 10
    assert task.metrics(perfect, batch)["accuracy"] == 1.0
    assert task.metrics(-perfect, batch)["accuracy"] == 0.0


@pytest.mark.parametrize("continuous", [False, True])
def test_xor_answers_at_the_end(continuous: bool) -> None:
    task = engrammar.build("xor", delay=4, continuous=continuous)
    batch = _sample(task, batch=64)
    assert batch.inputs.shape == (64, 5, 3)
    pairs = set()
    for b in range(64):
        a, c = int(batch.inputs[b, 0, 0]), int(batch.inputs[b, 0, 1])
        pairs.add((a, c))
        assert batch.mask[b].tolist() == [False] * 4 + [True]
        assert int(batch.targets[b, -1, 0]) == a ^ c
        later = batch.inputs[b, 1:, :2]
        assert torch.equal(later, batch.inputs[b, :1, :2].expand(4, 2)) if continuous else later.abs().sum() == 0
        assert batch.inputs[b, :, 2].tolist() == [1, 0, 0, 0, 0]
    assert pairs == {(0, 0), (0, 1), (1, 0), (1, 1)}


@pytest.mark.parametrize("mode", ["continuous", "pulse"])
def test_sine_target_is_the_described_wave(mode: str) -> None:
    task = engrammar.build("sine", length=20, mode=mode, vary_amplitude=True, vary_phase=True, max_amplitude=2.0)
    batch = _sample(task, batch=16)
    assert task.in_features == 4
    for b in range(16):
        f = float(batch.inputs[b, 0, 0]) * task.spec.max_frequency
        a = float(batch.inputs[b, 0, 1]) * 2.0
        phase = float(batch.inputs[b, 0, 2]) * 2 * math.pi
        assert task.spec.min_frequency <= f <= task.spec.max_frequency and 1.0 <= a <= 2.0
        wave = [a * math.sin(2 * math.pi * f * t + phase) for t in range(20)]
        assert batch.targets[b, :, 0].tolist() == pytest.approx(wave, abs=1e-4)
        rest = batch.inputs[b, 1:, :3]
        if mode == "pulse":
            assert rest.abs().sum() == 0
        else:
            assert torch.equal(rest, batch.inputs[b, :1, :3].expand(19, 3))
    assert batch.mask.all()
    assert task.metrics(batch.targets, batch)["mse"] == 0.0


def _answer_by_reading(words: list[str]) -> tuple[str, str]:
    """Read a story word by word, as a person would: (the question's subject, where it is)."""
    at: dict[str, str] = {}
    holder: dict[str, str] = {}
    body, question = words[:-4], words[-4:]
    assert question[0] == "where" and question[1] == "is" and question[3] == "?"
    for start in range(0, len(body), 5):
        who, verb, link, thing, stop = body[start : start + 5]
        assert who in NAMES and stop == "."
        if link == "to":
            assert verb in ("went", "moved", "journeyed", "travelled") and thing in PLACES
            at[who] = thing
        else:
            assert link == "the" and verb in ("got", "grabbed", "took") and thing in OBJECTS
            holder[thing] = who
    subject = question[2]
    return subject, at[holder[subject]] if subject in OBJECTS else at[subject]


@pytest.mark.parametrize("variant", [1, 2])
def test_babi_like_answer_is_what_the_story_says(variant: int) -> None:
    task = engrammar.build("babi_like", variant=variant, sentences=6, names=3, places=4)
    batch = _sample(task, batch=64)
    answers = set()
    for b in range(64):
        words = decode(batch.inputs[b].argmax(dim=-1)).split()
        subject, place = _answer_by_reading(words)
        assert (subject in NAMES) == (variant == 1) and (subject in OBJECTS) == (variant == 2)
        assert batch.mask[b].nonzero().flatten().tolist() == [len(words) - 1]
        assert decode([batch.targets[b, -1]]) == place
        assert place in PLACES[:4]
        answers.add(place)
    assert len(answers) == 4


def test_babi_like_spec_errors_name_the_field() -> None:
    with pytest.raises(engrammar.SpecError, match="babi_like.variant: must be one of"):
        engrammar.build("babi_like", variant=3)
    with pytest.raises(engrammar.SpecError, match="places"):
        engrammar.build("babi_like", places=len(PLACES) + 1)
