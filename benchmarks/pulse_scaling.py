"""Cost against sequence length: ``pulse`` beside ``transformer`` and ``kv_attention``.

    OMP_NUM_THREADS=1 python benchmarks/pulse_scaling.py [--lengths 512 1024 2048 4096 8192] [--repeats 3]

For each length T: one forward and backward pass over a whole sequence (batch 1, width 64, the
loss the sum of the outputs), CPU seconds as the median of ``--repeats`` runs, and the bytes of the
state each model carries after the sequence (per sample, float32). Then the slope of log(time)
and log(state bytes) against log(T), fitted over all lengths: 1 means linear, 2 quadratic, 0
constant.

Models, all of width 64 with 4 heads: ``pulse`` with 16 slots of 64 (gated by GRU, the default),
one ``transformer`` block (its cache of keys and values is its state), and ``kv_attention`` (its
key/value cache). ``pulse`` runs one token at a time (its slots are updated by every token in turn);
the other two attend over the whole sequence at once.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import engrammar
import torch
from engrammar import state_nbytes

MODELS = {
    "pulse (16 slots x 64)": {"use": "pulse", "num_states": 16, "state_dim": 64, "num_heads": 4},
    "transformer (1 block)": {"use": "transformer", "hidden_size": 64, "num_heads": 4, "num_layers": 1},
    "kv_attention": {"use": "kv_attention", "hidden_size": 64, "num_heads": 4, "head_dim": 16},
}
WIDTH = 64


def measure(spec: dict[str, object], length: int, repeats: int) -> tuple[float, int]:
    """(median seconds of forward + backward, state bytes per sample) at ``length``."""
    torch.manual_seed(0)
    fields = {key: value for key, value in spec.items() if key != "use"}
    model = engrammar.build(str(spec["use"]), in_features=WIDTH, **fields)
    x = torch.randn(1, length, WIDTH)
    seconds = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        start = time.process_time()
        y, state = model(x)
        y.sum().backward()
        seconds.append(time.process_time() - start)
    return statistics.median(seconds), state_nbytes(state)


def slope(lengths: list[int], values: list[float]) -> float:
    """Least-squares slope of log(values) against log(lengths)."""
    xs = [math.log(v) for v in lengths]
    ys = [math.log(max(v, 1e-12)) for v in values]
    mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
    return sum((a - mean_x) * (b - mean_y) for a, b in zip(xs, ys)) / sum((a - mean_x) ** 2 for a in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="a subset of: " + ", ".join(MODELS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    lengths = args.lengths
    print(f"forward + backward CPU seconds (median of {args.repeats}) and state bytes per sample, batch 1, width 64")
    header = "".join(f"{f'T={t}':>12}" for t in lengths)
    print(f"{'model':<24}{'':<8}{header}{'slope':>8}")
    for name in args.models:
        times, sizes = [], []
        for length in lengths:
            seconds, nbytes = measure(MODELS[name], length, args.repeats)
            times.append(seconds)
            sizes.append(nbytes)
        print(f"{name:<24}{'seconds':<8}" + "".join(f"{s:>12.3f}" for s in times) + f"{slope(lengths, times):>8.2f}")
        print(f"{'':<24}{'bytes':<8}" + "".join(f"{b:>12,}" for b in sizes) + f"{slope(lengths, sizes):>8.2f}")
        print(f"{'':<24}{'us/tok':<8}" + "".join(f"{1e6 * s / t:>12.1f}" for s, t in zip(times, lengths)))


if __name__ == "__main__":
    main()
