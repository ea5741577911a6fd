"""Our gated delta rule ops against flash-linear-attention's torch reference functions.

Feeds the same random inputs (default B=2, T=2048, H=4, K=V=64, float32, CPU) to

    engrammar_gated_delta.ops.recurrent_gated_delta_rule / chunk_gated_delta_rule
    fla.ops.gated_delta_rule.naive.naive_recurrent_gated_delta_rule / naive_chunk_gated_delta_rule

and prints, for each, the largest absolute difference to fla's recurrent reference (outputs, final
state, and the gradients of one fixed scalar loss with respect to every input), then the median
forward+backward time over several runs and its ratio to fla's chunk reference, all in this one
process. It asserts nothing about timings.

Needs the optional benchmark dependencies: ``pip install fla-core triton einops`` (with
``--no-deps`` where they would bring another torch; fla's torch references run on CPU once triton
is importable).

    OMP_NUM_THREADS=1 python benchmarks/compare_fla.py [--length 2048] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch
import torch.nn.functional as F


def make_inputs(batch: int, length: int, heads: int, key_dim: int, value_dim: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, length, heads, key_dim, generator=gen)
    k = F.normalize(torch.randn(batch, length, heads, key_dim, generator=gen), dim=-1)
    v = torch.randn(batch, length, heads, value_dim, generator=gen)
    g = F.logsigmoid(torch.randn(batch, length, heads, generator=gen) + 3.0)  # log decay <= 0
    beta = torch.sigmoid(torch.randn(batch, length, heads, generator=gen))
    initial_state = torch.randn(batch, heads, key_dim, value_dim, generator=gen) * 0.1
    return q, k, v, g, beta, initial_state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--key-dim", type=int, default=64)
    parser.add_argument("--value-dim", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per function (median)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fla warns that it falls back to CPU
        from fla.ops.gated_delta_rule.naive import naive_chunk_gated_delta_rule, naive_recurrent_gated_delta_rule

    from engrammar_gated_delta.ops import chunk_gated_delta_rule, recurrent_gated_delta_rule

    inputs = make_inputs(args.batch, args.length, args.heads, args.key_dim, args.value_dim, args.seed)
    names = ("q", "k", "v", "g", "beta", "initial_state")
    size = args.chunk_size

    # One signature for all four: (q, k, v, g, beta, initial_state) -> (o, final_state).
    # Note fla's recurrent reference takes beta before g.
    candidates = {
        "fla naive_recurrent": lambda q, k, v, g, b, s: naive_recurrent_gated_delta_rule(
            q, k, v, b, g, initial_state=s, output_final_state=True
        ),
        "fla naive_chunk": lambda q, k, v, g, b, s: naive_chunk_gated_delta_rule(
            q, k, v, g, b, chunk_size=size, initial_state=s, output_final_state=True
        ),
        "ours recurrent": lambda q, k, v, g, b, s: recurrent_gated_delta_rule(q, k, v, g, b, initial_state=s),
        "ours chunk": lambda q, k, v, g, b, s: chunk_gated_delta_rule(q, k, v, g, b, initial_state=s, chunk_size=size),
    }

    gen = torch.Generator().manual_seed(args.seed + 1)
    out_weights = torch.randn(args.batch, args.length, args.heads, args.value_dim, generator=gen)
    state_weights = torch.randn(args.batch, args.heads, args.key_dim, args.value_dim, generator=gen)

    def forward_backward(fn):
        leaves = [x.clone().requires_grad_() for x in inputs]
        o, state = fn(*leaves)
        loss = (o * out_weights).sum() + (state * state_weights).sum()
        grads = torch.autograd.grad(loss, leaves)
        return o.detach(), state.detach(), grads

    results, times = {}, {}
    for name, fn in candidates.items():
        results[name] = forward_backward(fn)  # warm-up, and the values compared below
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            forward_backward(fn)
            runs.append(time.perf_counter() - start)
        times[name] = statistics.median(runs)

    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(
        f"gated delta rule, B={args.batch} T={args.length} H={args.heads} K={args.key_dim} "
        f"V={args.value_dim}, float32, CPU, chunk {size}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()} (OMP_NUM_THREADS={threads}), "
        f"median of {args.repeats} forward+backward runs"
    )
    reference = results["fla naive_recurrent"]
    baseline = times["fla naive_chunk"]
    header = f"{'function':<22}{'max|Δo|':>11}{'max|ΔS|':>11}{'max|Δgrad|':>12}{'fwd+bwd ms':>12}{'vs fla chunk':>14}"
    print(header)
    print("-" * len(header))
    for name in candidates:
        o, state, grads = results[name]
        d_out = (o - reference[0]).abs().max().item()
        d_state = (state - reference[1]).abs().max().item()
        d_grad = max((a - b).abs().max().item() for a, b in zip(grads, reference[2]))
        speedup = baseline / times[name]
        print(f"{name:<22}{d_out:>11.2e}{d_state:>11.2e}{d_grad:>12.2e}{times[name] * 1e3:>12.1f}{speedup:>13.2f}x")
    worst = {
        name: max((a - b).abs().max().item() for a, b in zip(results[name][2], reference[2])) for name in candidates
    }
    print(
        "differences are to fla naive_recurrent; gradients of one scalar loss w.r.t. "
        + ", ".join(names)
        + f"; largest gradient difference: {max(worst.values()):.2e}"
    )


if __name__ == "__main__":
    main()
