"""8-bit AdamW against float32 AdamW: optimizer state bytes on the README demo's model, and how far
12 steps land from float32 AdamW on gradients whose scales differ inside every block.

    python benchmarks/adamw8bit.py

Prints two tables. "off course": |θ - θ_AdamW| / |θ_AdamW - θ_0| after 12 steps (lower is closer),
for this package's AdamW8bit (second moment kept as its square root), the same storing v itself,
and bitsandbytes' AdamW8bit when it is installed; median over 3 seeds.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import engrammar
import torch
from engrammar_tricks import AdamW8bit, state_bytes
from engrammar_tricks.adamw8bit.naive import adamw_reference

WIRING = Path(__file__).resolve().parent.parent / "examples" / "lstm_dnc.yaml"
SETTINGS = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.05}


class StoresV(AdamW8bit):
    """The same optimizer keeping v itself in the unsigned code (for comparison only)."""

    def moments(self, parameter):
        state = self.state.get(parameter)
        if state and "exp_avg_sq_codes" in state:
            first, root_squared = super().moments(parameter)
            return first, root_squared.sqrt()  # the codes hold v: undo the square
        return super().moments(parameter)

    def _store(self, parameter, first, second):
        super()._store(parameter, first, second.square())  # stored as sqrt(v^2) = v


def state_table() -> None:
    torch.manual_seed(0)
    model = engrammar.build(WIRING)
    loss = model(torch.randn(4, 10, model.in_features))[0].square().mean()
    loss.backward()
    rows = []
    for name, make in [
        ("torch AdamW (float32)", lambda p: torch.optim.AdamW(p, lr=1e-3)),
        ("AdamW8bit, min_8bit_size=4096", lambda p: AdamW8bit(p, lr=1e-3)),
        ("AdamW8bit, min_8bit_size=0", lambda p: AdamW8bit(p, lr=1e-3, min_8bit_size=0)),
    ]:
        optimizer = make(list(model.parameters()))
        optimizer.step()
        rows.append((name, state_bytes(optimizer)))
    base = rows[0][1]
    count = sum(p.numel() for p in model.parameters())
    print(f"optimizer state, {WIRING.name} ({count} parameters)")
    print(f"{'optimizer':34} {'bytes':>10} {'vs AdamW':>9}")
    for name, size in rows:
        print(f"{name:34} {size:>10} {size / base:>8.1%}")


def problem(seed: int, spread: float):
    generator = torch.Generator().manual_seed(seed)
    start = [torch.randn(64, 96, generator=generator)]
    scale = torch.logspace(-spread, 0, 64 * 96)[torch.randperm(64 * 96, generator=generator)].view(64, 96)
    grads = [[torch.randn(64, 96, generator=generator) * scale] for _ in range(12)]
    return start, grads


def off_course(make, start, grads) -> float:
    params = [torch.nn.Parameter(s.clone()) for s in start]
    optimizer = make(params)
    for step in grads:
        for param, grad in zip(params, step):
            param.grad = grad.clone()
        optimizer.step()
    reference = adamw_reference(start, grads, **SETTINGS)
    return float((params[0].detach() - reference[0]).norm() / (reference[0] - start[0]).norm())


def tracking_table() -> None:
    makers = {
        "AdamW8bit (sqrt v)": lambda p: AdamW8bit(p, **SETTINGS, min_8bit_size=0),
        "AdamW8bit storing v": lambda p: StoresV(p, **SETTINGS, min_8bit_size=0),
    }
    try:
        import bitsandbytes

        makers["bitsandbytes AdamW8bit"] = lambda p: bitsandbytes.optim.AdamW8bit(p, **SETTINGS, min_8bit_size=0)
    except ImportError:
        pass
    print("\noff course after 12 steps (median of seeds 0, 1, 2)")
    print(f"{'optimizer':26} " + " ".join(f"{f'spread 1e{int(s)}':>12}" for s in (0, 2, 4)))
    for name, make in makers.items():
        cells = [
            statistics.median(off_course(make, *problem(seed, spread)) for seed in range(3)) for spread in (0, 2, 4)
        ]
        print(f"{name:26} " + " ".join(f"{c:>12.4f}" for c in cells))


def main() -> None:
    state_table()
    tracking_table()


if __name__ == "__main__":
    main()
