"""The training loop: truncated backpropagation, loss weighting, hooks in order, clipping, mixed
precision, metrics lines, plots, and learning on a task core can define."""

from __future__ import annotations

import json

import engrammar
import engrammar_train
import pytest
import test_training_support  # noqa: F401  (registers the test task and component)
import torch
from engrammar.hooks import hookimpl
from engrammar.task import TaskBatch
from engrammar_train import TrainConfig, Trainer, build_for_task, build_task


def _trainer(tmp_path=None, hooks=(), model=None, **config) -> Trainer:
    task, task_data = build_task("echo_for_tests", {"length": 8})
    torch.manual_seed(0)
    built, recipe = build_for_task(model or {"use": "noisy_rnn_for_tests", "dropout": 0.0}, task)
    config = {"batch_size": 4, "eval_every": 2, "log_every": 1, **config}
    return Trainer(
        built, task, config, out_dir=tmp_path, hooks=hooks, recipe=recipe, task_data=task_data, progress=False
    )


def _gradients(trainer: Trainer) -> list[torch.Tensor]:
    class Capture:
        def __init__(self) -> None:
            self.grads: list[torch.Tensor] = []

        @hookimpl
        def before_optimizer_step(self, trainer, optimizer) -> None:
            self.grads = [p.grad.clone() for p in trainer.model.parameters()]

    capture = Capture()
    trainer.hooks.register(capture)
    trainer.train_step()
    return capture.grads


def test_tbptt_over_the_whole_sequence_equals_full_backprop_and_shorter_differs() -> None:
    full = _gradients(_trainer(grad_clip=0.0))
    whole = _gradients(_trainer(grad_clip=0.0, tbptt=8))
    truncated = _gradients(_trainer(grad_clip=0.0, tbptt=2))
    for a, b in zip(full, whole):
        torch.testing.assert_close(a, b)
    assert any(not torch.allclose(a, b) for a, b in zip(full, truncated))


def test_truncated_gradients_equal_chunks_weighted_by_their_masked_share() -> None:
    """tbptt=3 on 8 steps (mask false at t=0): chunks of 2, 3 and 2 masked positions of 7, each
    chunk's mean loss weighted by its share, no gradient across chunk borders."""
    trainer = _trainer(grad_clip=0.0, tbptt=3)
    model, task = trainer.model, trainer.task
    batch = task.sample(4, torch.Generator().manual_seed(0))  # the trainer's first batch (seed 0)
    model.train()
    model.zero_grad()
    state = None
    for start in range(0, 8, 3):
        part = TaskBatch(*(t[:, start : start + 3] for t in (batch.inputs, batch.targets, batch.mask)))
        y, state = model(part.inputs, state)
        (task.loss(y, part) * (part.mask.sum() / 28)).backward()
        state = engrammar.detach_state(state)
    expected = [p.grad.clone() for p in model.parameters()]
    for got, want in zip(_gradients(trainer), expected, strict=True):
        torch.testing.assert_close(got, want)


def test_chunk_losses_sum_to_the_full_loss() -> None:
    losses = [_trainer(tbptt=k).train_step()["loss"] for k in (None, 3, 1)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert losses[2] == pytest.approx(losses[0], rel=1e-5)


def test_hooks_fire_in_order_and_backward_terms_are_added() -> None:
    calls: list[str] = []

    class Recorder:
        @hookimpl
        def on_train_start(self, trainer):
            calls.append("train_start")

        @hookimpl
        def on_epoch_start(self, trainer, epoch):
            calls.append(f"epoch_start {epoch}")

        @hookimpl
        def before_backward(self, trainer, loss):
            calls.append("before_backward")

        @hookimpl
        def after_backward(self, trainer):
            calls.append("after_backward")

        @hookimpl
        def before_optimizer_step(self, trainer, optimizer):
            calls.append("before_step")

        @hookimpl
        def after_optimizer_step(self, trainer, optimizer):
            calls.append("after_step")

        @hookimpl
        def on_epoch_end(self, trainer, epoch, metrics):
            calls.append(f"epoch_end {epoch} {sorted(metrics)}")

        @hookimpl
        def on_train_end(self, trainer):
            calls.append("train_end")

    _trainer(hooks=[Recorder()], steps=2, tbptt=4).fit()
    # before_backward per backward pass (two chunks), after_backward once per step
    step = ["before_backward", "before_backward", "after_backward", "before_step", "after_step"]
    assert calls == ["train_start", "epoch_start 0", *step, *step, "epoch_end 0 ['bit_errors', 'loss']", "train_end"]

    class Penalty:
        @hookimpl
        def before_backward(self, trainer, loss):
            return 100.0 * sum(p.square().sum() for p in trainer.model.parameters())

    plain = _gradients(_trainer(grad_clip=0.0))
    penalised = _gradients(_trainer(hooks=[Penalty()], grad_clip=0.0))
    assert sum(float(g.norm()) for g in penalised) > 10 * sum(float(g.norm()) for g in plain)


def test_gradient_clipping_bounds_the_norm() -> None:
    class Norm:
        def __init__(self) -> None:
            self.seen: list[float] = []

        @hookimpl
        def before_optimizer_step(self, trainer, optimizer):
            self.seen.append(float(torch.nn.utils.get_total_norm([p.grad for p in trainer.model.parameters()])))

    norm = Norm()
    trainer = _trainer(hooks=[norm], grad_clip=1e-3)
    logged = trainer.train_step()["grad_norm"]
    assert logged > 1e-3  # the norm before clipping is logged
    assert norm.seen[-1] == pytest.approx(1e-3, rel=1e-4)


def test_bf16_autocast_trains_on_cpu() -> None:
    trainer = _trainer(precision="bf16", steps=3)
    metrics = trainer.fit()
    assert trainer.step == 3 and torch.isfinite(torch.tensor(metrics["loss"]))
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # weights stay fp32


def test_fp16_on_the_cpu_is_a_spec_error() -> None:
    with pytest.raises(engrammar.SpecError, match="train.precision: 16-mixed needs a GPU"):
        _trainer(precision="fp16", accelerator="cpu")  # the first release's name for 16-mixed


def test_metrics_lines_checkpoint_and_plots(tmp_path) -> None:
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # a user's own backend (a notebook's, say) survives the plots
    try:
        trainer = _trainer(tmp_path, steps=5, eval_every=2, log_every=2)
        trainer.fit()
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["step"]) for r in lines] == [
        ("eval", 0),
        ("train", 2),
        ("eval", 2),
        ("train", 4),
        ("eval", 4),
        ("train", 5),
        ("eval", 5),
    ]
    assert {"loss", "bit_errors", "grad_norm", "lr"} <= set(lines[1])
    for name in ("checkpoint.safetensors", "spec.json", "loss.png", "bit_errors.png"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert spec["task"] == {"use": "echo_for_tests", "bits": 3, "length": 8, "delay": 1}
    assert spec["model"]["nodes"]["readout"]["out_features"] == 3


def test_evaluation_uses_the_same_batches_each_time() -> None:
    trainer = _trainer()
    assert trainer.evaluate() == trainer.evaluate()
    assert trainer.evaluate() != trainer.evaluate(seed=5)


def test_learning_improves_the_metric() -> None:
    """A stateless linear model cannot echo with a delay; an RNN learns it."""
    trainer = _trainer(
        steps=150, eval_every=150, lr=0.02, model={"use": "noisy_rnn_for_tests", "hidden_size": 16, "dropout": 0.0}
    )
    before = trainer.evaluate()["bit_errors"]
    after = trainer.fit()["bit_errors"]
    assert before > 8 and after < before / 4


def test_config_errors_name_the_field() -> None:
    with pytest.raises(engrammar.SpecError, match="train.optimizer: must be one of"):
        engrammar_train.train("ema", "echo_for_tests", overrides=["train.optimizer=lbfgs"], progress=False)
    with pytest.raises(engrammar.SpecError, match="train.clip: unknown field; did you mean 'grad_clip'"):
        engrammar_train.train("ema", "echo_for_tests", overrides=["train.clip=1"], progress=False)
    with pytest.raises(engrammar.SpecError, match=r"train: betas must each be in \[0, 1\), got \[0.9, 2.0\]"):
        engrammar_train.train("ema", "echo_for_tests", overrides=["train.betas=[0.9, 2.0]"], progress=False)
    assert TrainConfig().grad_clip == 1.0 and TrainConfig().optimizer == "adamw"


def test_auxiliary_losses_of_the_model_are_added_to_the_training_loss() -> None:
    wiring = {
        "name": "moe_for_tests",
        "in_features": 1,
        "nodes": {
            "ctrl": {"use": "linear", "out_features": 4, "in": "x"},
            "fast": {"use": "ema", "init_decay": 0.3, "in": "ctrl"},
            "slow": {"use": "ema", "init_decay": 0.9, "in": "ctrl"},
            "mix": {"use": "moe", "router": "ctrl", "experts": ["fast", "slow"], "balance_weight": 0.0},
        },
        "out": "mix",
    }
    no_balance = _trainer(model=wiring, grad_clip=0.0).train_step()["loss"]
    wiring["nodes"]["mix"]["balance_weight"] = 10.0
    trainer = _trainer(model=wiring, grad_clip=0.0)
    balanced = trainer.train_step()["loss"]
    # The load-balancing loss is balance_weight * E * sum_e f_e P_e >= balance_weight for E experts.
    assert balanced - no_balance >= 10.0 - 1e-4


def test_auxiliary_losses_count_by_time_share_in_every_chunk() -> None:
    """Under truncated backpropagation each chunk's auxiliary loss counts by its share of the time
    steps, also in a chunk with no masked position (here the first: the target lags 4 steps)."""
    wiring = {
        "name": "moe_for_tests",
        "nodes": {
            "ctrl": {"use": "linear", "out_features": 4, "in": "x"},
            "fast": {"use": "ema", "init_decay": 0.3, "in": "ctrl"},
            "slow": {"use": "ema", "init_decay": 0.9, "in": "ctrl"},
            "mix": {"use": "moe", "router": "ctrl", "experts": ["fast", "slow"], "balance_weight": 5.0},
        },
        "out": "mix",
    }
    task, task_data = build_task("echo_for_tests", {"length": 8, "delay": 4})
    torch.manual_seed(0)
    model, recipe = build_for_task(wiring, task)
    config = {"batch_size": 4, "tbptt": 4, "grad_clip": 0.0}
    trainer = Trainer(model, task, config, recipe=recipe, task_data=task_data, progress=False)

    # The expected loss and gradients, written out chunk by chunk (before the trainer's step).
    batch = task.sample(4, torch.Generator().manual_seed(0))  # the trainer's first batch (seed 0)
    model.zero_grad()
    with engrammar.recording(model) as record:
        _, state = model(batch.inputs[:, :4])
    first = 0.5 * record.losses["nodes.mix.load_balance"]
    first.backward()
    with engrammar.recording(model) as record:
        y2, _ = model(batch.inputs[:, 4:], engrammar.detach_state(state))
    part = TaskBatch(batch.inputs[:, 4:], batch.targets[:, 4:], batch.mask[:, 4:])
    second = task.loss(y2, part) + 0.5 * record.losses["nodes.mix.load_balance"]
    second.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    assert not batch.mask[:, :4].any() and float(first.detach()) > 1.0

    seen: list[list[torch.Tensor]] = []

    class Capture:
        @hookimpl
        def before_optimizer_step(self, trainer, optimizer) -> None:
            seen.append([p.grad.clone() for p in trainer.model.parameters()])

    trainer.hooks.register(Capture())
    loss = trainer.train_step()["loss"]
    assert loss == pytest.approx(float((first + second).detach()), rel=1e-5)
    for got, want in zip(seen[0], expected, strict=True):
        torch.testing.assert_close(got, want)


def test_traced_components_get_their_plots_written_after_training(tmp_path) -> None:
    from engrammar.builtin.ema import EMA

    class TracedEMA(EMA):
        """An ema that reports its outputs as a trace and plots them (as a DNC does)."""

        def _sequence(self, x, state):
            y, state = super()._sequence(x, state)
            if engrammar.is_tracing(self):
                engrammar.report_trace(self, {"outputs": y}, sequence=True)
            return y, state

        def plot_trace(self, trace, out_dir, *, prefix: str) -> list:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{prefix}_outputs.png"
            path.write_bytes(b"png:" + str(tuple(trace["outputs"].shape)).encode())
            return [path]

    engrammar.unregister("traced_ema_for_tests")
    engrammar.register("memories", "traced_ema_for_tests")(TracedEMA)
    try:
        trainer = _trainer(tmp_path, model={"use": "traced_ema_for_tests"}, steps=2)
        trainer.fit()
    finally:
        engrammar.unregister("traced_ema_for_tests")
    written = sorted((tmp_path / "trace").glob("*.png"))
    assert [p.name for p in written] == ["model_outputs.png"]  # the model itself is the traced module
    assert written[0].read_bytes().startswith(b"png:(1, 8,")  # one fresh evaluation batch of length 8
    assert written[0] in trainer.plots
