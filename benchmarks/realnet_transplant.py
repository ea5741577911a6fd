"""Transplantation: a 64-neuron RealNet trained on scikit-learn's ``load_digits``, its checkpoint
transplanted into a 128-neuron model (``transplant_weights``), against a fresh 128-neuron model:
optimizer steps until the test accuracy reaches the small model's final accuracy.

    python benchmarks/realnet_transplant.py

Both sizes: input neurons 0..15, output neurons 16..25, vocab_size=[64, 10] (continuous), 5
thinking steps, cross-entropy, lr=3e-3, batch 64 (22 steps per epoch). The small model trains 10
epochs; each 128-neuron model trains at most 10 epochs, evaluated every 5 steps. Seeds 0-2. About
three minutes on a 2-core x86-64 CPU with one intra-op thread.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from realnet import RealNet, RealNetTrainer, transplant_weights
from realnet.utils.realstore import save_checkpoint
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

torch.set_num_threads(1)
SEEDS = (0, 1, 2)
STEPS, EPOCHS, BATCH, EVERY = 5, 10, 64, 5


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return x_train, x_test, y_train, y_test


def make(num_neurons: int) -> RealNet:
    return RealNet(num_neurons, range(16), range(16, 26), vocab_size=[64, 10], vocab_mode="continuous")


def test_accuracy(trainer: RealNetTrainer, x: torch.Tensor, y: torch.Tensor) -> float:
    return (trainer.predict(x, thinking_steps=STEPS).argmax(-1) == y).float().mean().item()


def steps_to_reach(
    model: RealNet, target: float, seed: int, split: tuple[torch.Tensor, ...]
) -> tuple[int | None, float, float]:
    """Optimizer steps until the test accuracy is >= target (None: not within the budget), the
    accuracy before training, and the accuracy at the end of the budget."""
    x_train, x_test, y_train, y_test = split
    trainer = RealNetTrainer(model, loss_fn=nn.CrossEntropyLoss(), lr=3e-3, seed=seed)
    start = test_accuracy(trainer, x_test, y_test)
    if start >= target:
        return 0, start, start
    generator = torch.Generator().manual_seed(seed)
    reached, accuracy = None, start
    for _ in range(EPOCHS):
        order = torch.randperm(len(x_train), generator=generator)
        for first in range(0, len(x_train), BATCH):
            index = order[first : first + BATCH]
            trainer.train_batch(x_train[index], y_train[index], thinking_steps=STEPS)
            if trainer.step % EVERY == 0:
                accuracy = test_accuracy(trainer, x_test, y_test)
                if reached is None and accuracy >= target:
                    reached = trainer.step
        if reached is not None:
            break
    return reached, start, accuracy


def main() -> None:
    split = digits_split()
    x_train, x_test, y_train, y_test = split
    print("## transplant 64 -> 128 neurons on digits: optimizer steps to reach the 64-neuron model's accuracy")
    print("| seed | 64-neuron accuracy | transplanted: accuracy at step 0 | transplanted: steps | fresh: steps |")
    print("| --- | --- | --- | --- | --- |")
    budget = EPOCHS * -(-len(x_train) // BATCH)
    with tempfile.TemporaryDirectory() as folder:
        for seed in SEEDS:
            torch.manual_seed(seed)
            small = RealNetTrainer(make(64), loss_fn=nn.CrossEntropyLoss(), lr=3e-3, seed=seed)
            small.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, thinking_steps=STEPS)
            target = test_accuracy(small, x_test, y_test)
            path = save_checkpoint(small.model, small.optimizer, EPOCHS, 0.0, Path(folder) / f"small{seed}.safetensors")
            torch.manual_seed(100 + seed)
            transplanted = make(128)
            transplant_weights(transplanted, path, verbose=False)
            torch.manual_seed(100 + seed)
            fresh = make(128)
            warm, warm_start, _ = steps_to_reach(transplanted, target, seed, split)
            cold, _, cold_end = steps_to_reach(fresh, target, seed, split)
            cold_text = str(cold) if cold is not None else f"> {budget} (reached {cold_end:.3f})"
            warm_text = str(warm) if warm is not None else f"> {budget}"
            print(f"| {seed} | {target:.3f} | {warm_start:.3f} | {warm_text} | {cold_text} |")


if __name__ == "__main__":
    main()
