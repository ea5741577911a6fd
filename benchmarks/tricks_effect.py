"""Each trick against plain training on a small task, several seeds: final metric and the step at
which the evaluation first reached a threshold.

    OMP_NUM_THREADS=1 python benchmarks/tricks_effect.py                 # every trick, 3 seeds
    OMP_NUM_THREADS=1 python benchmarks/tricks_effect.py --tricks none ghost_gradients --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/tricks_effect.py --tricks none --hidden 80   # neurogenesis' final size

The task is `copy` (4 bits, sequences of 1 to 4) learnt by an LSTM of 32 units with a linear
read-out, 600 steps of 16 sequences, AdamW at 3e-3, evaluated every 25 steps on fixed batches.
A trick is given as in `--trick` (name or name:key=value,...); "none" is plain training.
"""

from __future__ import annotations

import argparse
import statistics

import engrammar
import torch
from engrammar.spec import structure
from engrammar_train import TrainConfig, Trainer, build_for_task, build_task

TRICKS = [
    "none",
    "ghost_gradients:persistence=0.1",
    "synaptic_noise:std=1e-6",
    "darwinian_regeneration:percentage=0.01,every=50",
    "neurogenesis:amount=8,every=100",
    "adamw8bit:min_8bit_size=0",
    "ema_weights:decay=0.99",
    "grad_noise:eta=0.01",
    "agc:clipping=0.05",
]
SETTINGS = {"steps": 600, "batch_size": 16, "lr": 3e-3, "eval_every": 25, "log_every": 25}
THRESHOLD = 1.0  # bits wrong per sequence


class EvaluatingTrainer(Trainer):
    """Calls the evaluation hooks around every evaluation (ema_weights evaluates its average)."""

    def evaluate(self, *args, **kwargs):
        self.hooks.hook.on_evaluate_start(trainer=self)
        metrics = super().evaluate(*args, **kwargs)
        self.hooks.hook.on_evaluate_end(trainer=self, metrics=metrics)
        return metrics


def make_trick(text: str):
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = float(value) if any(c in value for c in ".e") else int(value)
    cls = engrammar.registry.load(name, kind="tricks")
    return cls(structure(options, cls.spec_cls, path=name))


def train(trick_text: str, seed: int, hidden: int = 32) -> tuple[float, int | None]:
    task, _ = build_task({"use": "copy", "bits": 4, "max_length": 4})
    torch.manual_seed(seed)
    model, recipe = build_for_task({"use": "lstm", "hidden_size": hidden}, task)
    config = structure({**SETTINGS, "seed": seed, "device": "cpu"}, TrainConfig)
    hooks, optimizer = [], None
    if trick_text != "none":
        trick = make_trick(trick_text)
        hooks.append(trick)
        if hasattr(trick, "make_optimizer"):  # adamw8bit supplies the optimizer
            optimizer = trick.make(list(model.parameters()), config.lr, tuple(config.betas), config.weight_decay)
    trainer = EvaluatingTrainer(model, task, config, hooks=hooks, recipe=recipe, optimizer=optimizer, progress=False)
    reached: list[int | None] = [None]

    class Watch:
        @engrammar.hookimpl
        def on_epoch_end(self, trainer, epoch, metrics):
            if reached[0] is None and metrics["bit_errors"] <= THRESHOLD:
                reached[0] = trainer.step

    trainer.hooks.register(Watch())
    final = trainer.fit()
    return float(final["bit_errors"]), reached[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tricks", nargs="*", default=TRICKS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--hidden", type=int, default=32, help="the LSTM's units (neurogenesis starts there)")
    args = parser.parse_args()
    print(f"copy (4 bits, length 1-4), lstm {args.hidden}, {SETTINGS['steps']} steps; seeds {args.seeds}")
    print(f"{'trick':50} {'final bit errors (per seed)':>30} {'median':>7} {f'steps to <= {THRESHOLD}':>18}")
    for text in args.tricks:
        results = [train(text, seed, args.hidden) for seed in args.seeds]
        finals = [f for f, _ in results]
        steps = [s if s is not None else "-" for _, s in results]
        cells = " ".join(f"{f:.2f}" for f in finals)
        print(f"{text:50} {cells:>30} {statistics.median(finals):>7.2f} {' '.join(map(str, steps)):>18}", flush=True)


if __name__ == "__main__":
    main()
