"""The PULSE tutorial's training loop: SimplePulse beside a 2-hidden-layer MLP, trained the same way.

    OMP_NUM_THREADS=1 python benchmarks/pulse_classification.py [--seeds 0 1 2] [--epochs 20]

Data, model and loop as the tutorial writes them: ``make_classification(n_samples=1000,
n_features=64, n_classes=5, n_informative=32, random_state=42)``, an 80/20 split
(``random_state=42``), batches of 32, Adam (lr 1e-3), StepLR (step 10, gamma 0.9), 20 epochs;
``SimplePulse(64, 64, 8, 5)`` against an MLP 64 -> 128 -> 128 -> 5 (ReLU), and SimplePulse's first
design, which read a flat input as one token of 64 features instead of 8 (``--one-token``, a third
row). The seed sets the initial weights and the order of the batches. Prints the test accuracy
after the last epoch (and the best epoch's) per seed, with the mean.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from engrammar_pulse import SimplePulse
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def data() -> tuple[TensorDataset, TensorDataset]:
    x, y = make_classification(n_samples=1000, n_features=64, n_classes=5, n_informative=32, random_state=42)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    return (
        TensorDataset(torch.FloatTensor(x_train), torch.LongTensor(y_train)),
        TensorDataset(torch.FloatTensor(x_test), torch.LongTensor(y_test)),
    )


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 5))


class OneTokenPulse(SimplePulse):
    """SimplePulse reading a flat input as one token GELU(W x) of state_dim features."""

    def __init__(self) -> None:
        super().__init__(input_dim=64, state_dim=64, num_states=8, output_dim=5)
        self.input_projection = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = nn.functional.gelu(self.input_projection(x))[:, None]
        slots = self.state_manager.scaled_states().expand(x.shape[0], -1, -1)
        routed, _ = self.router(tokens, slots)
        return self.output_projection(self.propagator(slots, routed).flatten(1))


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return 100.0 * correct / total


def train(make: type | object, seed: int, epochs: int) -> tuple[float, float, float]:
    """(final test accuracy, best test accuracy, seconds) of one run."""
    train_set, test_set = data()
    torch.manual_seed(seed)
    model = make()  # type: ignore[operator]
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=32, shuffle=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.9)
    criterion = nn.CrossEntropyLoss()
    start = time.perf_counter()
    history = []
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        scheduler.step()
        history.append(accuracy(model, test_loader))
    return history[-1], max(history), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--one-token", action="store_true", help="also train SimplePulse's one-token design")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = {
        "SimplePulse(64, 64, 8, 5)": lambda: SimplePulse(input_dim=64, state_dim=64, num_states=8, output_dim=5),
        "MLP 64-128-128-5": mlp,
    }
    if args.one_token:
        models["SimplePulse, one token"] = OneTokenPulse
    print(f"test accuracy (%) after {args.epochs} epochs, seeds {' / '.join(map(str, args.seeds))}")
    print(
        f"{'model':<28} {'parameters':>10}  {'final, per seed':<24} {'mean':>6}  {'best epoch, per seed':<24} {'s/run':>6}"
    )
    finals = {}
    for name, make in models.items():
        runs = [train(make, seed, args.epochs) for seed in args.seeds]
        finals[name] = statistics.mean(r[0] for r in runs)
        parameters = sum(p.numel() for p in make().parameters())
        final = " / ".join(f"{r[0]:.1f}" for r in runs)
        best = " / ".join(f"{r[1]:.1f}" for r in runs)
        seconds = statistics.median(r[2] for r in runs)
        print(f"{name:<28} {parameters:>10,}  {final:<24} {finals[name]:>6.1f}  {best:<24} {seconds:>6.1f}")
    pulse, baseline = list(finals.values())[:2]
    print(f"SimplePulse - MLP (mean final accuracy): {pulse - baseline:+.1f} points")


if __name__ == "__main__":
    main()
