"""The bio-inspired tricks on RealNet, with and without, on scikit-learn's ``load_digits``: ghost
gradients (``gradient_persistence``), synaptic noise, Darwinian regeneration
(``regenerate_synapses``) and neurogenesis (``expand``). Each is engrammar-tricks' implementation,
reached through RealNetTrainer's documented arguments and methods.

    python benchmarks/realnet_tricks.py

RealNet(24, range(10), range(14, 24), vocab_size=[64, 10], vocab_mode='continuous'), 5 thinking
steps, cross-entropy, lr=3e-3, batch 64, 10 epochs, seeds 0-2. Regeneration re-initialises the
5 % weakest weights after every epoch; neurogenesis adds 4 neurons after epochs 2, 4, 6 and 8
(24 -> 40 neurons). About four minutes on a 2-core x86-64 CPU with one intra-op thread.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
from realnet import RealNet, RealNetTrainer
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

torch.set_num_threads(1)
SEEDS = (0, 1, 2)
EPOCHS, STEPS, BATCH = 10, 5, 64


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return x_train, x_test, y_train, y_test


def regenerate(trainer: RealNetTrainer, epoch: int) -> None:
    trainer.regenerate_synapses(percentage=0.05)


def grow(trainer: RealNetTrainer, epoch: int) -> None:
    if epoch in (2, 4, 6, 8):
        trainer.expand(amount=4, verbose=False)


VARIANTS: dict[str, tuple[dict[str, float], Callable[[RealNetTrainer, int], None] | None]] = {
    "none": ({"synaptic_noise": 0.0}, None),
    "ghost gradients (persistence 0.1)": ({"synaptic_noise": 0.0, "gradient_persistence": 0.1}, None),
    "synaptic noise 1e-6 (the default)": ({"synaptic_noise": 1e-6}, None),
    "synaptic noise 1e-3": ({"synaptic_noise": 1e-3}, None),
    "regeneration (5 % per epoch)": ({"synaptic_noise": 0.0}, regenerate),
    "neurogenesis (+4 neurons x4)": ({"synaptic_noise": 0.0}, grow),
}


def run(
    options: dict[str, float], after_epoch: Callable[[RealNetTrainer, int], None] | None, seed: int, split
) -> tuple[float, float]:
    x_train, x_test, y_train, y_test = split
    torch.manual_seed(seed)
    model = RealNet(24, range(10), range(14, 24), vocab_size=[64, 10], vocab_mode="continuous")
    trainer = RealNetTrainer(model, loss_fn=nn.CrossEntropyLoss(), lr=3e-3, seed=seed, **options)
    losses = []
    for epoch in range(1, EPOCHS + 1):
        losses = trainer.fit(x_train, y_train, epochs=1, batch_size=BATCH, thinking_steps=STEPS)
        if after_epoch is not None and epoch < EPOCHS:
            after_epoch(trainer, epoch)
    accuracy = (trainer.predict(x_test, thinking_steps=STEPS).argmax(-1) == y_test).float().mean().item()
    return accuracy, losses[-1]


def main() -> None:
    split = digits_split()
    print(f"## tricks on RealNet, digits, {EPOCHS} epochs, seeds {list(SEEDS)}")
    print("| trick | test accuracy: mean | min | max | last epoch's train loss (mean) |")
    print("| --- | --- | --- | --- | --- |")
    for name, (options, after_epoch) in VARIANTS.items():
        results = [run(options, after_epoch, seed, split) for seed in SEEDS]
        accuracies = [a for a, _ in results]
        loss = statistics.mean(last for _, last in results)
        print(
            f"| {name} | {statistics.mean(accuracies):.3f} | {min(accuracies):.3f} | {max(accuracies):.3f} | {loss:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
