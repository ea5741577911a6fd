"""fit / predict / evaluate on the user's own data: shapes, losses, masks, validation, the best
checkpoint, early stopping, accumulation, exact resume and seeds."""

from __future__ import annotations

import json

import engrammar
import pytest
import test_training_support  # noqa: F401  (registers the test task and component)
import torch
from engrammar_train import evaluate, fit, load_checkpoint, predict
from engrammar_train.data import DataTask, examples
from engrammar_train.losses import LOSSES

LINEAR = {"use": "linear", "out_features": 3}  # a model by name, with its fields


def blobs(samples: int = 96, features: int = 6, classes: int = 3, seed: int = 0):
    """Well separated Gaussian blobs: (N, F) float, (N,) class indices."""
    generator = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(classes, features, generator=generator)
    labels = torch.arange(samples) % classes
    return centres[labels] + 0.3 * torch.randn(samples, features, generator=generator), labels


def test_vectors_fed_once_or_repeated_learn_the_classes() -> None:
    x, y = blobs()
    for repeat in (1, 3):
        history = fit(LINEAR, (x, y), epochs=8, batch_size=16, lr=0.05, repeat=repeat)
        assert history.model.out_features == 3 and history.step == 8 * 6
        assert history["accuracy"][0] < 0.7 and history.final["accuracy"] > 0.95
        assert predict(history.model, x[:5], repeat=repeat).shape == (5, 3)
        assert evaluate(history.model, (x, y), repeat=repeat)["accuracy"] == pytest.approx(history.final["accuracy"])


def test_per_sequence_targets_are_scored_on_the_last_step_only() -> None:
    x = torch.randn(4, 5, 2)
    batch = examples(x, torch.tensor([0, 1, 1, 0]), loss=LOSSES["cross_entropy"])
    assert batch.inputs.shape == (4, 5, 2) and batch.targets.shape == (4, 5)
    assert batch.mask[:, -1].all() and not batch.mask[:, :-1].any()
    vectors = examples(torch.randn(4, 2), torch.randn(4, 3), loss=LOSSES["mse"], repeat=6)
    assert vectors.inputs.shape == (4, 6, 2) and vectors.targets.shape == (4, 6, 3)
    assert torch.equal(vectors.inputs[:, 0], vectors.inputs[:, 5])
    weighted = examples(torch.randn(3, 2), torch.randn(3), torch.tensor([True, False, True]), loss=LOSSES["mse"])
    assert weighted.mask.squeeze(1).tolist() == [True, False, True]


def test_the_loss_counts_only_masked_positions() -> None:
    outputs = torch.randn(2, 4, 3)
    targets = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, False, True, False], [False, False, False, True]])
    batch = examples(torch.randn(2, 4, 5), targets, mask, loss=LOSSES["mse"])
    task = DataTask(LOSSES["mse"], 5, 3)
    expected = ((outputs - targets)[mask] ** 2).mean()
    torch.testing.assert_close(task.loss(outputs, batch), expected)
    outputs_changed_off_mask = outputs.clone()
    outputs_changed_off_mask[~mask] = 100.0
    torch.testing.assert_close(task.loss(outputs_changed_off_mask, batch), expected)


def test_per_step_regression_with_a_mask_and_bce_and_a_callable_loss() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 6, 2)
    y = x.cumsum(1)  # per step: running sums, an RNN's job
    mask = torch.rand(32, 6) > 0.3
    history = fit("noisy_rnn_for_tests", (x, y, mask), loss="mse", epochs=25, batch_size=8, lr=0.02, dropout=0.0)
    assert history["loss"][-1] < history["loss"][0] / 3
    bits = (x > 0).float()
    bce = fit("noisy_rnn_for_tests", (x, bits), loss="bce", epochs=15, batch_size=8, lr=0.05, dropout=0.0)
    assert bce.final["accuracy"] > 0.9 and bce.model.out_features == 2

    def l1(outputs, targets):
        return (outputs - targets).abs().mean()

    custom = fit("noisy_rnn_for_tests", (x, y), loss=l1, epochs=3, batch_size=8, dropout=0.0)
    assert set(custom.final) == {"loss"} and len(custom["loss"]) == 4


def test_validation_given_or_split_off_and_evaluations_score_it() -> None:
    x, y = blobs(100)
    split = fit(LINEAR, (x, y), val=0.25, epochs=1, batch_size=25)
    assert split.step == 3  # 75 training samples in batches of 25
    given = fit(LINEAR, (x[:75], y[:75]), val=(x[75:], y[75:]), epochs=1, batch_size=25)
    assert given.step == 3
    model = given.model
    assert given.final == evaluate(model, (x[75:], y[75:]))
    with pytest.raises(engrammar.SpecError, match="val: give validation data or train.val_fraction, not both"):
        fit(LINEAR, (x, y), val=(x, y), val_fraction=0.2, epochs=1)


def test_best_checkpoint_follows_the_monitor_and_early_stopping(tmp_path) -> None:
    x, y = blobs(60)
    history = fit(LINEAR, (x, y), val=(x, y), epochs=6, batch_size=20, lr=0.05, out=tmp_path)
    assert history.best["metric"] == "accuracy"
    best = load_checkpoint(tmp_path / "best.safetensors")
    assert best["step"] == history.best["step"] and best["last_eval"]["accuracy"] == history.best["value"]
    assert history.best["value"] == max(history["accuracy"])
    by_loss = fit(LINEAR, (x, y), val=(x, y), epochs=6, batch_size=20, lr=0.05, monitor="loss")
    assert by_loss.best["value"] == min(by_loss["loss"])
    # A learning rate of zero never improves after the first evaluation: stop after `patience` more.
    still = fit(LINEAR, (x, y), epochs=50, batch_size=20, lr=1e-12, patience=2, monitor="loss", min_delta=1e-3)
    assert still.stopped_early and still.step == 3 * 3 and len(still["loss"]) == 4


def test_accumulated_batches_equal_one_big_batch() -> None:
    x, y = blobs(64)
    a = fit(LINEAR, (x, y), epochs=2, batch_size=8, accumulate=2, grad_clip=0.0, seed=3)
    b = fit(LINEAR, (x, y), epochs=2, batch_size=16, grad_clip=0.0, seed=3)
    assert a.step == b.step == 8
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        torch.testing.assert_close(pa, pb, msg=name)


def test_data_runs_resume_exactly_mid_epoch(tmp_path) -> None:
    x, y = blobs(60)
    settings = dict(epochs=3, batch_size=8, lr=0.05, seed=1, schedule="cosine", log_every=1)
    straight = fit("noisy_rnn_for_tests", (x, y), out=tmp_path / "straight", repeat=2, **settings)
    assert straight.step == 24  # 8 batches per epoch
    part = fit("noisy_rnn_for_tests", (x, y), out=tmp_path / "split", repeat=2, until=11, **settings)
    assert part.step == 11 and load_checkpoint(tmp_path / "split")["batches_done"] == 3
    resumed = fit("noisy_rnn_for_tests", (x, y), out=tmp_path / "split", repeat=2, resume=True, **settings)
    assert resumed.step == 24
    for (name, pa), pb in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(pa, pb), name
    lines = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["split"] == "train"] == list(range(1, 25))


def test_seeds_decide_everything() -> None:
    x, y = blobs()
    runs = [fit("noisy_rnn_for_tests", (x, y), epochs=1, batch_size=16, seed=s).model for s in (4, 4, 5)]
    same = [torch.equal(a, b) for a, b in zip(runs[0].parameters(), runs[1].parameters())]
    other = [torch.equal(a, b) for a, b in zip(runs[0].parameters(), runs[2].parameters())]
    assert all(same) and not all(other)


def test_a_dataloader_trains_like_tensors() -> None:
    x, y = blobs(48)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=12)
    history = fit(LINEAR, loader, epochs=6, lr=0.05, out_features=3, val=loader)
    assert history.step == 24 and history.final["accuracy"] > 0.9
    assert evaluate(history.model, loader) == pytest.approx(evaluate(history.model, (x, y)))


def test_a_task_by_name_trains_through_fit(tmp_path) -> None:
    history = fit("noisy_rnn_for_tests", "echo_for_tests", steps=4, batch_size=4, eval_every=2, out=tmp_path)
    assert history.step == 4 and history.steps == [0, 2, 4]
    assert set(evaluate(history.model, "echo_for_tests")) == {"bit_errors", "loss"}


def test_predict_keeps_sequences_or_takes_the_last_step() -> None:
    model = engrammar.build("noisy_rnn_for_tests", in_features=3, hidden_size=4)
    x = torch.randn(5, 7, 3)
    assert predict(model, x).shape == (5, 7, 4)
    assert torch.equal(predict(model, x, last=True), predict(model, x)[:, -1])
    torch.testing.assert_close(predict(model, x, batch_size=2), predict(model, x))
