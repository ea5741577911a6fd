"""Sliding-window attention in blocks against full attention under a window mask, and the state each
attention memory carries.

Part 1 feeds the same random queries, keys and values (default B=1, H=4, K=V=64, T=4096, window
256, float32, CPU) to three forms of one computation, each query seeing the last ``window`` tokens:

    dense explicit   softmax(q kᵀ / √K, masked to the window) v, the (T, T) scores written out
    dense fused      ops.full_attention: scaled_dot_product_attention with the dense (T, T) mask
    blocked          ops.sliding_window_attention: blocks of ``window`` queries against 2 · window keys

and prints the largest difference to the dense explicit form (outputs, and the gradients of one
fixed scalar loss with respect to q, k, v), the median forward+backward time over several runs and
its ratio to each dense form, all in this one process.

Part 2 runs the same comparison on the components (hidden 64, 4 heads of 16): ``sliding_window``
against ``kv_attention`` with ``max_length = window - 1``, which sees the same tokens (the same
parameters give the same outputs) through the dense fused mask.

Part 3 streams random inputs through ``sliding_window`` and ``kv_attention`` (hidden 64, 4 heads of
16, the same window; chunks of 1024 tokens, state carried) and prints the state bytes per sample
after each length. It asserts nothing about timings.

    OMP_NUM_THREADS=1 python benchmarks/attention_window.py [--length 4096] [--window 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

BYTES_LENGTHS = (256, 1024, 4096, 16384)


def dense_explicit(q, k, v, window):
    length = q.shape[2]
    index = torch.arange(length)
    allowed = (index[None, :] <= index[:, None]) & (index[None, :] > index[:, None] - window)
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1) @ v


def timed(fn, inputs, weights, repeats):
    times = []
    for _ in range(repeats):
        for tensor in inputs:
            tensor.grad = None
        start = time.perf_counter()
        (fn(*inputs) * weights).sum().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_speed(args) -> None:
    from engrammar_attention.ops import full_attention, sliding_window_attention

    gen = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, args.heads, args.length, args.head_dim)
    q, k, v = (torch.randn(shape, generator=gen).requires_grad_(True) for _ in range(3))
    weights = torch.randn(shape, generator=gen)
    first_visible = torch.zeros(args.batch, args.length, dtype=torch.long)  # no cache, no reset
    window = args.window
    candidates = {
        "dense explicit": lambda q, k, v: dense_explicit(q, k, v, window),
        "dense fused": lambda q, k, v: full_attention(q, k, v, first_visible, window),
        "blocked": lambda q, k, v: sliding_window_attention(q, k, v, first_visible, window),
    }
    results = {}
    for name, fn in candidates.items():
        out = fn(q, k, v)
        grads = torch.autograd.grad((out * weights).sum(), (q, k, v))
        results[name] = (out.detach(), grads)
    reference_out, reference_grads = results["dense explicit"]
    times = {name: timed(fn, (q, k, v), weights, args.repeats) for name, fn in candidates.items()}

    print(
        f"attention over the last {window} tokens, B={args.batch}, H={args.heads}, K=V={args.head_dim}, "
        f"T={args.length}, float32, {torch.get_num_threads()} thread(s), forward+backward, median of {args.repeats}"
    )
    header = f"{'form':<16}{'max|Δo|':>11}{'max|Δgrad|':>12}{'ms':>10}{'vs explicit':>13}{'vs fused':>10}"
    print(header)
    print("-" * len(header))
    for name in candidates:
        out, grads = results[name]
        d_out = (out - reference_out).abs().max().item()
        d_grad = max((a - b).abs().max().item() for a, b in zip(grads, reference_grads))
        print(
            f"{name:<16}{d_out:>11.2e}{d_grad:>12.2e}{times[name] * 1e3:>10.1f}"
            f"{times['dense explicit'] / times[name]:>12.2f}x{times['dense fused'] / times[name]:>9.2f}x"
        )


def compare_components(args) -> None:
    import engrammar

    fields = {"in_features": 64, "hidden_size": 64, "num_heads": 4, "head_dim": 16}
    sliding = engrammar.build("sliding_window", window=args.window, **fields)
    dense = engrammar.build("kv_attention", max_length=args.window - 1, **fields)
    dense.load_state_dict(sliding.state_dict())
    gen = torch.Generator().manual_seed(args.seed + 1)
    x = torch.randn(args.batch, args.length, 64, generator=gen).requires_grad_(True)
    weights = torch.randn(args.batch, args.length, 64, generator=gen)
    difference = (sliding(x)[0] - dense(x)[0]).abs().max().item()
    times = {
        name: timed(lambda x, model=model: model(x)[0], (x,), weights, args.repeats)
        for name, model in (("sliding_window", sliding), ("kv_attention", dense))
    }
    print(
        f"\ncomponents, hidden 64, 4 heads of 16, B={args.batch}, T={args.length}, forward+backward, "
        f"median of {args.repeats}; max|Δy| {difference:.2e}"
    )
    header = f"{'component':<40}{'ms':>10}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    print(f"{f'kv_attention, max_length {args.window - 1}':<40}{times['kv_attention'] * 1e3:>10.1f}{1.0:>8.2f}x")
    ratio = times["kv_attention"] / times["sliding_window"]
    print(f"{f'sliding_window, window {args.window}':<40}{times['sliding_window'] * 1e3:>10.1f}{ratio:>8.2f}x")


def state_bytes(args) -> None:
    import engrammar
    from engrammar.state import state_nbytes

    fields = {"in_features": 64, "hidden_size": 64, "num_heads": 4, "head_dim": 16}
    models = {
        "sliding_window": engrammar.build("sliding_window", window=args.window, **fields),
        "kv_attention": engrammar.build("kv_attention", **fields),
    }
    gen = torch.Generator().manual_seed(args.seed)
    print(f"\nstate bytes per sample (hidden 64, 4 heads of 16, window {args.window}, float32)")
    header = f"{'length':>8}" + "".join(f"{name:>16}" for name in models)
    print(header)
    print("-" * len(header))
    states: dict[str, object] = dict.fromkeys(models)
    seen = 0
    with torch.no_grad():
        for length in BYTES_LENGTHS:
            piece = torch.randn(1, length - seen, 64, generator=gen)
            for name, model in models.items():
                for chunk in piece.split(1024, dim=1):
                    _, states[name] = model(chunk, states[name])
            seen = length
            print(f"{length:>8}" + "".join(f"{state_nbytes(states[name]):>16,}" for name in models))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per form (median)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    compare_speed(args)
    compare_components(args)
    state_bytes(args)


if __name__ == "__main__":
    main()
