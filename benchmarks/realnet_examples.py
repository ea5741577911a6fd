"""RealNet's documented examples, run as written on CPU (``device='cuda'`` left out), with the
numbers docs/realnet.md reports. Four sections, each printing a table:

- ``xor``: ``RealNet(3, [0, 1], [2])`` + ``RealNetTrainer(model, gradient_persistence=0.1)`` +
  ``fit(X, Y, epochs=100, thinking_steps=5)`` over 5 seeds, then the epochs each seed needs to get
  all four cases right (output > 0.5 read as 1), at the documented default rate and at lr=1e-2;
- ``digits``: the asymmetric-vocabulary classifier (64 pixels -> 10 neurons -> 10 classes) on
  scikit-learn's ``load_digits`` (a small local stand-in for MNIST), test accuracy over 3 seeds;
- ``oscillator``: continuous mode, a frequency as the input, a sine of that frequency as the
  output over 30 steps; mean squared error on held-out frequencies against predicting zero;
- ``sequential``: the running parity of a bit stream (the ``parity`` task of engrammar-tasks), bits
  given as token ids, two thinking steps per token; bit accuracy on fresh sequences.

    python benchmarks/realnet_examples.py [xor digits oscillator sequential]

About four minutes on a 2-core x86-64 CPU with one intra-op thread (OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import math
import time

import torch
from realnet import RealNet, RealNetTrainer
from torch import nn

torch.set_num_threads(1)
SEEDS5 = range(5)
SEEDS3 = range(3)


def xor() -> None:
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    print(
        "## XOR: RealNet(3, [0, 1], [2]), RealNetTrainer(gradient_persistence=0.1), fit(epochs=100, thinking_steps=5)"
    )
    print("| seed | outputs for 00, 01, 10, 11 after 100 epochs | all four right |")
    print("| --- | --- | --- |")
    for seed in SEEDS5:
        torch.manual_seed(seed)
        model = RealNet(3, [0, 1], [2])
        trainer = RealNetTrainer(model, gradient_persistence=0.1)
        trainer.fit(X, Y, epochs=100, thinking_steps=5)
        out = trainer.predict(X, thinking_steps=5).flatten()
        right = bool(((out > 0.5).float() == Y.flatten()).all())
        print(f"| {seed} | {', '.join(f'{v:.3f}' for v in out.tolist())} | {'yes' if right else 'no'} |")
    limit = 2000
    print(f"\n## XOR: epochs until all four cases are right (checked every 10 epochs, at most {limit})")
    print("| lr | " + " | ".join(f"seed {s}" for s in SEEDS5) + " |")
    print("| --- |" + " --- |" * len(SEEDS5))
    for lr in (1e-4, 1e-2):
        cells = []
        for seed in SEEDS5:
            torch.manual_seed(seed)
            trainer = RealNetTrainer(RealNet(3, [0, 1], [2]), gradient_persistence=0.1, lr=lr, seed=seed)
            solved = None
            for epoch in range(10, limit + 1, 10):
                trainer.fit(X, Y, epochs=10, thinking_steps=5)
                if bool(((trainer.predict(X, thinking_steps=5) > 0.5).float() == Y).all()):
                    solved = epoch
                    break
            cells.append(str(solved) if solved else f"> {limit}")
        print(f"| {lr:g} | " + " | ".join(cells) + " |")


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return x_train, x_test, y_train, y_test


def digits() -> None:
    x_train, x_test, y_train, y_test = digits_split()
    epochs, steps = 20, 5
    print("\n## digits: RealNet(10, range(10), range(10), vocab_size=[64, 10], vocab_mode='continuous')")
    print(f"cross-entropy, lr=3e-3, batch 64, {epochs} epochs, thinking_steps={steps}; 1347 train / 450 test images")
    print("| seed | test accuracy | seconds |")
    print("| --- | --- | --- |")
    for seed in SEEDS3:
        torch.manual_seed(seed)
        model = RealNet(
            num_neurons=10, input_ids=range(10), output_ids=range(10), vocab_size=[64, 10], vocab_mode="continuous"
        )
        trainer = RealNetTrainer(model, loss_fn=nn.CrossEntropyLoss(), lr=3e-3, seed=seed)
        started = time.perf_counter()
        trainer.fit(x_train, y_train, epochs=epochs, batch_size=64, thinking_steps=steps)
        accuracy = (trainer.predict(x_test, thinking_steps=steps).argmax(-1) == y_test).float().mean().item()
        print(f"| {seed} | {accuracy:.3f} | {time.perf_counter() - started:.0f} |")


def sines(freqs: torch.Tensor, steps: int) -> torch.Tensor:
    t = torch.arange(1, steps + 1, dtype=torch.float32)
    return torch.sin(2 * math.pi * freqs[:, None] * t[None, :] / steps)[..., None]  # (B, steps, 1)


def oscillator() -> None:
    steps, updates = 30, 1500
    print(f"\n## oscillator: continuous mode, input f in [1, 3] cycles per {steps} steps, target sin(2π f t / {steps})")
    print(f"RealNet(32, [0], [31], pulse_mode=False), lr=3e-3, {updates} batches of 32, full_sequence MSE")
    print("| seed | test MSE (held-out f) | MSE of predicting 0 |")
    print("| --- | --- | --- |")
    test_f = torch.linspace(1.05, 2.95, 20)
    for seed in SEEDS3:
        torch.manual_seed(seed)
        model = RealNet(32, [0], [31], pulse_mode=False)
        trainer = RealNetTrainer(model, lr=3e-3, seed=seed, synaptic_noise=0.0)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(updates):
            f = 1 + 2 * torch.rand(32, generator=generator)
            trainer.train_batch(f[:, None], sines(f, steps), thinking_steps=steps, full_sequence=True)
        prediction = trainer.predict(test_f[:, None], thinking_steps=steps, full_sequence=True)
        target = sines(test_f, steps)
        print(f"| {seed} | {float(((prediction - target) ** 2).mean()):.4f} | {float((target**2).mean()):.4f} |")


def sequential() -> None:
    from engrammar_train import build_task

    length, per_token, updates = 8, 2, 1500
    task, _ = build_task("parity", {"length": length})
    print(f"\n## sequential: running parity of {length} bits (engrammar-tasks' parity), bits as token ids")
    print(
        f"RealNet(24, range(4), range(20, 24), vocab_size=[2, 2], vocab_mode='discrete'), steps = {per_token} per token,"
    )
    print(f"cross-entropy at each token's last step (output_transform), lr=3e-3, {updates} batches of 32")
    print("| seed | bit accuracy (fresh sequences) | whole sequences right |")
    print("| --- | --- | --- |")
    for seed in SEEDS3:
        torch.manual_seed(seed)
        model = RealNet(24, range(4), range(20, 24), vocab_size=[2, 2], vocab_mode="discrete")
        trainer = RealNetTrainer(model, loss_fn=nn.CrossEntropyLoss(), lr=3e-3, seed=seed, synaptic_noise=0.0)
        generator = torch.Generator().manual_seed(seed)

        def at_token_ends(outputs: torch.Tensor) -> torch.Tensor:
            return outputs[:, per_token - 1 :: per_token].reshape(-1, 2)

        for _ in range(updates):
            batch = task.sample(32, generator)
            tokens = batch.inputs[..., 0].long()
            targets = batch.targets[..., 0].long().reshape(-1)
            trainer.train_batch(
                tokens, targets, thinking_steps=per_token * length, full_sequence=True, output_transform=at_token_ends
            )
        test = task.sample(1000, torch.Generator().manual_seed(10_000 + seed))
        outputs = trainer.predict(test.inputs[..., 0].long(), thinking_steps=per_token * length, full_sequence=True)
        guess = outputs[:, per_token - 1 :: per_token].argmax(-1)
        right = guess == test.targets[..., 0].long()
        print(f"| {seed} | {right.float().mean():.3f} | {right.all(dim=1).float().mean():.3f} |")


SECTIONS = {"xor": xor, "digits": digits, "oscillator": oscillator, "sequential": sequential}

if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="RealNet's documented examples, measured (tables on stdout).")
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"some of {', '.join(SECTIONS)} (default: all)")
    chosen = parser.parse_args().sections or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    for name in chosen:
        SECTIONS[name]()
