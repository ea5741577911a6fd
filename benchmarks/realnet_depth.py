"""Temporal depth: RealNet's test accuracy on scikit-learn's ``load_digits`` against the number of
thinking steps, with no encoder, no decoder and no hidden neurons: the 64 pixels drive neurons
0..63 at step 0 (pulse mode) and neurons 64..73 are read out as the 10 class scores.

After one step the output neurons have seen only their bias (the pixels reach them through W on
the second step), so one step is chance; every further step is one more pass through the same
layer. Prints the table of docs/realnet.md; ``--plot PATH`` also draws it.

    python benchmarks/realnet_depth.py [--plot docs/figures/realnet/thinking_steps.png]

RealNet(74, range(64), range(64, 74)), cross-entropy, lr=1e-2, batch 64, 15 epochs, seeds 0-2.
About three minutes on a 2-core x86-64 CPU with one intra-op thread.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from realnet import RealNet, RealNetTrainer
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

torch.set_num_threads(1)
STEPS = (1, 2, 5, 10, 20)
SEEDS = (0, 1, 2)
EPOCHS = 15


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return x_train, x_test, y_train, y_test


def accuracy(steps: int, seed: int, split: tuple[torch.Tensor, ...]) -> float:
    x_train, x_test, y_train, y_test = split
    torch.manual_seed(seed)
    model = RealNet(74, range(64), range(64, 74))
    trainer = RealNetTrainer(model, loss_fn=nn.CrossEntropyLoss(), lr=1e-2, seed=seed)
    trainer.fit(x_train, y_train, epochs=EPOCHS, batch_size=64, thinking_steps=steps)
    return (trainer.predict(x_test, thinking_steps=steps).argmax(-1) == y_test).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", help="write the figure (PNG) here")
    args = parser.parse_args()
    split = digits_split()
    print(f"## digits test accuracy vs thinking_steps (zero hidden layers, {EPOCHS} epochs, seeds {list(SEEDS)})")
    print("| thinking_steps | mean | min | max | seconds per run |")
    print("| --- | --- | --- | --- | --- |")
    rows = []
    for steps in STEPS:
        started = time.perf_counter()
        results = [accuracy(steps, seed, split) for seed in SEEDS]
        seconds = (time.perf_counter() - started) / len(SEEDS)
        rows.append((steps, results))
        print(f"| {steps} | {statistics.mean(results):.3f} | {min(results):.3f} | {max(results):.3f} | {seconds:.0f} |")
    if args.plot:
        from engrammar.nn.plotting import new_figure, save_figure

        figure, axes = new_figure(figsize=(5.0, 3.4))
        means = [statistics.mean(r) for _, r in rows]
        axes.plot([s for s, _ in rows], means, marker="o", label="mean of 3 seeds")
        for steps, results in rows:
            axes.scatter([steps] * len(results), results, color="gray", s=10)
        axes.set_xscale("log")
        axes.set_xticks(list(STEPS), [str(s) for s in STEPS])
        axes.set_xlabel("thinking_steps")
        axes.set_ylabel("test accuracy")
        axes.set_title("RealNet on digits, no hidden layer: depth from time")
        axes.set_ylim(0, 1)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        print(f"wrote {save_figure(figure, args.plot)}")


if __name__ == "__main__":
    main()
