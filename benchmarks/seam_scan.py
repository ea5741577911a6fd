"""The seed's speed claim, measured: ``gated_delta_rnn`` as a parallel scan against its own loop.

The seam-gated networks write-up reports its gated delta unit 2.5-3x faster than a sequential RNN
at batch 32, length 100, hidden 64 (forward pass, on an RTX 3090). This script times the same unit
two ways with identical parameters — ``use_parallel_scan=True`` (associative scan, O(log T)
depth) and ``use_parallel_scan=False`` (the plain loop) — forward only under ``torch.no_grad``
and forward+backward, at length 100 and 2048, and prints medians and the loop/scan ratio
(> 1 means the scan is faster). It checks that both give the same outputs and asserts nothing
about timings.

    OMP_NUM_THREADS=1 python benchmarks/seam_scan.py [--lengths 100 2048] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from engrammar_gated_delta import GatedDeltaRNN


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 2048])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--input-dim", type=int, default=4)
    parser.add_argument("--delta-rank", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    spec = {
        "in_features": args.input_dim,
        "hidden_size": args.hidden,
        "delta_rank": args.delta_rank,
        "z2_symmetric": True,
    }
    scan = GatedDeltaRNN(use_parallel_scan=True, **spec)
    loop = GatedDeltaRNN(use_parallel_scan=False, **spec)
    loop.load_state_dict(scan.state_dict())

    print(
        f"gated_delta_rnn, batch {args.batch}, hidden {args.hidden}, delta_rank {args.delta_rank}, "
        f"input {args.input_dim}, float32, CPU, torch {torch.__version__}, torch threads "
        f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
        f"median of {args.repeats}"
    )
    header = f"{'length':>7}{'pass':>18}{'loop ms':>11}{'scan ms':>11}{'loop/scan':>11}{'max|Δy|':>11}"
    print(header)
    print("-" * len(header))
    for length in args.lengths:
        x = torch.randn(args.batch, length, args.input_dim)
        with torch.no_grad():
            difference = (scan(x)[0] - loop(x)[0]).abs().max().item()

        def forward(model, x=x):
            def run():
                with torch.no_grad():
                    model(x)

            return run

        def forward_backward(model, x=x):
            def run():
                model.zero_grad(set_to_none=True)
                y, _ = model(x)
                y.square().mean().backward()

            return run

        for label, make in (("forward", forward), ("forward+backward", forward_backward)):
            loop_time = median_time(make(loop), args.repeats)
            scan_time = median_time(make(scan), args.repeats)
            print(
                f"{length:>7}{label:>18}{loop_time * 1e3:>11.1f}{scan_time * 1e3:>11.1f}"
                f"{loop_time / scan_time:>10.2f}x{difference:>11.1e}"
            )


if __name__ == "__main__":
    main()
