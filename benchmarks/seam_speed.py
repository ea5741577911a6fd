"""The seam-gated networks write-up's speed table, measured on this machine.

The write-up reports (batch 32, length 100, hidden 64, on an RTX 3090): standard Z2-RNN 15.2 ms
forward / 180 s per epoch; + Lightning 14.8 ms / 95 s; + Lightning + FP16 14.1 ms / 62 s; gated
delta + Lightning + FP16 5.3 ms / 24 s (7.5x). This script times the same grid here:

- model: ``z2_seam`` (the write-up's baseline, the seam-gated Z2-symmetric RNN) and
  ``gated_delta_rnn`` (its gated delta unit, Z2-symmetric, parallel scan), hidden 64, input 4,
  delta_rank 8, each with a linear read-out to the two regimes of ``antipodal``;
- precision: float32, and bf16 mixed precision (autocast) where the CPU has bf16 instructions
  (FP16 autocast is a GPU feature; bf16 is what a CPU offers);
- loop: a plain PyTorch loop, and Lightning's own ``Trainer`` driving a minimal
  ``LightningModule`` (the same model, optimizer, clipping and batches).

"forward ms" is one forward pass of a batch under ``torch.no_grad`` (after one warm-up pass);
"train s/epoch" is the time of an epoch of ``--batches`` training steps (AdamW, gradient clipping
at 1.0), measured inside the run (the Trainer's set-up, from ``fit`` to the first epoch, is printed
apart). Every configuration runs once per round, round after round (``--repeats`` rounds), so a
change in the machine's load falls on all of them alike; the table gives medians over the rounds
and the spread (max − min) of the epoch times. The speed-up is z2_seam / float32 / plain loop's
epoch time over the row's, in the same process. Timings are never asserted.

    OMP_NUM_THREADS=1 python benchmarks/seam_speed.py [--batches 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import time
import warnings
from collections.abc import Iterator
from typing import Any

import engrammar
import torch
from torch import Tensor, nn

SEED_TABLE = [
    ("Standard Z2-RNN", "15.2", "180", "1.0x"),
    ("Z2-RNN + Lightning", "14.8", "95", "1.9x"),
    ("Z2-RNN + Lightning + FP16", "14.1", "62", "2.9x"),
    ("Gated Delta + Lightning + FP16", "5.3", "24", "7.5x"),
]


def cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class Classifier(nn.Module):
    """A memory and a linear read-out to the regimes: (B, T, in) -> logits (B, T, 2)."""

    def __init__(self, name: str, **spec: Any) -> None:
        super().__init__()
        self.memory = engrammar.build(name, **spec)
        self.read_out = nn.Linear(self.memory.out_features, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.read_out(self.memory(x)[0])


def build(name: str, seed: int) -> Classifier:
    torch.manual_seed(seed)
    if name == "z2_seam":
        return Classifier("z2_seam", in_features=4, hidden_size=64)
    return Classifier("gated_delta_rnn", in_features=4, hidden_size=64, delta_rank=8, z2_symmetric=True)


def loss_of(model: Classifier, inputs: Tensor, targets: Tensor) -> Tensor:
    logits = model(inputs)
    return nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


@contextlib.contextmanager
def precision_context(precision: str) -> Iterator[None]:
    if precision == "bf16-mixed":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


def forward_ms(model: Classifier, inputs: Tensor, precision: str, repeats: int) -> float:
    def once() -> None:
        with torch.no_grad(), precision_context(precision):
            model(inputs)

    once()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        runs.append(time.perf_counter() - start)
    return 1000 * statistics.median(runs)


def plain_epochs(model: Classifier, batches: list[tuple[Tensor, Tensor]], precision: str, epochs: int) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for inputs, targets in batches:
            with precision_context(precision):
                loss = loss_of(model, inputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def lightning_epochs(
    model: Classifier, batches: list[tuple[Tensor, Tensor]], precision: str, epochs: int
) -> tuple[list[float], float]:
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch: tuple[Tensor, Tensor], index: int) -> Tensor:
            return loss_of(self.model, *batch)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters(), lr=1e-3)

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.first_step: float | None = None

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.start = time.perf_counter()
            if self.first_step is None:
                self.first_step = self.start

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.times.append(time.perf_counter() - self.start)

    for logger_name in ("lightning.pytorch", "pytorch_lightning", "lightning.fabric", "lightning_fabric"):
        logging.getLogger(logger_name).setLevel(logging.ERROR)  # device and tip banners
    timer = EpochTimer()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        precision="bf16-mixed" if precision == "bf16-mixed" else "32-true",
        max_epochs=epochs,
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        num_sanity_val_steps=0,
    )
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Trainer's advice on workers and logging
        trainer.fit(Module(), loader)
    set_up = (timer.first_step or start) - start
    return timer.times, set_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--batches", type=int, default=20, help="training steps per epoch")
    parser.add_argument("--repeats", type=int, default=5, help="epochs and forward passes timed (median)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    task = engrammar.build("antipodal", T=args.length)
    generator = torch.Generator().manual_seed(args.seed)
    batches = []
    for _ in range(args.batches):
        batch = task.sample(args.batch, generator)
        batches.append((batch.inputs, batch.targets))
    precisions = ["32"] + (["bf16-mixed"] if cpu_has_bf16() else [])
    print(
        f"batch {args.batch}, length {args.length}, hidden 64, input 4, epoch = {args.batches} steps; "
        f"CPU, torch {torch.__version__}, threads {torch.get_num_threads()} "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}); CPU bf16 instructions: "
        f"{'yes' if cpu_has_bf16() else 'no (bf16 rows skipped)'}; medians of {args.repeats}"
    )
    configs = [
        (name, precision, loop)
        for name in ("z2_seam", "gated_delta_rnn")
        for precision in precisions
        for loop in ("plain", "Lightning")
    ]
    models = {config: build(config[0], args.seed) for config in configs}
    forward: dict[tuple[str, str], list[float]] = {}
    epochs: dict[tuple[str, str, str], list[float]] = {config: [] for config in configs}
    set_ups: dict[tuple[str, str, str], list[float]] = {config: [] for config in configs}
    # Round robin: every configuration once per round, so that the machine's changing load falls
    # on all of them alike; medians over the rounds.
    for round_index in range(args.repeats):
        for name, precision, loop in configs:
            model = models[(name, precision, loop)]
            if loop == "plain":
                forward.setdefault((name, precision), []).append(forward_ms(model, batches[0][0], precision, 1))
                times, set_up = plain_epochs(model, batches, precision, 1), 0.0
            else:
                times, set_up = lightning_epochs(model, batches, precision, 1)
            epochs[(name, precision, loop)] += times
            set_ups[(name, precision, loop)].append(set_up)
        print(f"  round {round_index + 1}/{args.repeats} done", flush=True)
    rows = []
    baseline = statistics.median(epochs[configs[0]])
    for config in configs:
        name, precision, loop = config
        epoch = statistics.median(epochs[config])
        spread = max(epochs[config]) - min(epochs[config])
        fwd = statistics.median(forward[(name, precision)])
        rows.append((name, precision, loop, fwd, epoch, spread, baseline / epoch, statistics.median(set_ups[config])))
    print()
    print(
        f"{'model':>16} {'precision':>11} {'loop':>10} {'forward ms':>11} {'train s/epoch':>14} "
        f"{'(max-min)':>10} {'speed-up':>9} {'set-up s':>9}"
    )
    print("-" * 97)
    for name, precision, loop, fwd, epoch, spread, ratio, set_up in rows:
        extra = f"{set_up:9.2f}" if loop == "Lightning" else f"{'':>9}"
        print(f"{name:>16} {precision:>11} {loop:>10} {fwd:11.1f} {epoch:14.2f} {spread:10.2f} {ratio:8.2f}x {extra}")
    print()
    print("the write-up's figures (RTX 3090, epochs of its own size), quoted as claims, not measured here:")
    for row in SEED_TABLE:
        print(f"  {row[0]:<32} forward {row[1]:>5} ms   {row[2]:>4} s/epoch   {row[3]}")


if __name__ == "__main__":
    main()
