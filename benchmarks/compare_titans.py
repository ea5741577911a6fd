"""Our ``neural_memory`` against titans-pytorch's ``NeuralMemory`` at a matched configuration.

Both modules map (B, T, dim) to (B, T, dim) with a per-sample 2-layer MLP memory (hidden width
expansion · dim, GELU, no residual or norm inside), chunks of 16 tokens, a data-dependent learning
rate, momentum and weight decay. Each round times one forward + backward (loss: the sum of the
outputs, gradients for every parameter and the input) of every candidate, in turn, in this one
process; the table gives the median time and the median of the per-round ratios to titans-pytorch
at its defaults, for each thread count. It asserts nothing about timings.

The two compute different things, by design (see docs/titans.md): titans-pytorch (by default)
takes the gradients of every chunk of a call at the weights the call started from, with one
momentum and one decay per chunk, and reads each chunk with the weights from before it; ours takes
each chunk's gradients at that chunk's start weights (the paper's mini-batch rule), with momentum
and decay per token, and reads each token with the weights updated through it (or, with
``read_before_update``, from before its chunk). titans-pytorch with ``batch_size=chunk`` moves its
weights after every chunk, like ours.

Needs the benchmark-only dependency titans-pytorch (see docs/titans.md for the install line).

    python benchmarks/compare_titans.py [--threads 1 2] [--repeats 7] [--length 512]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn


def candidates(
    args: argparse.Namespace,
) -> dict[str, tuple[nn.Module, Callable[[nn.Module, torch.Tensor], torch.Tensor]]]:
    import engrammar

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from titans_pytorch import NeuralMemory as ReferenceMemory

    def reference(**extra: object) -> nn.Module:
        torch.manual_seed(args.seed)
        return ReferenceMemory(
            dim=args.dim,
            chunk_size=args.chunk_size,
            mem_model_norm_add_residual=False,  # a plain MLP memory, as ours
            default_model_kwargs={"depth": 2, "expansion_factor": float(args.expansion)},
            **extra,
        )

    def ours(**extra: object) -> nn.Module:
        torch.manual_seed(args.seed)
        return engrammar.build(
            "neural_memory",
            in_features=args.dim,
            hidden_size=args.dim,
            num_heads=1,
            head_dim=args.dim,
            memory_depth=2,
            memory_expansion=args.expansion,
            chunk_size=args.chunk_size,
            use_momentum=True,
            use_weight_decay=True,
            use_short_conv=False,  # titans-pytorch has no convolution
            use_output_gate=False,  # nor an output gate with one head
            **extra,
        )

    def call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return module(x)[0]

    table = {
        "titans-pytorch NeuralMemory": (reference(), call),
        f"titans-pytorch batch_size={args.chunk_size}": (reference(batch_size=args.chunk_size), call),
        "ours neural_memory": (ours(), call),
        "ours read_before_update": (ours(read_before_update=True), call),
    }
    if args.with_step:

        def stepwise(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
            state, outputs = None, []
            for t in range(x.shape[1]):
                y_t, state = module.step(x[:, t], state)
                outputs.append(y_t)
            return torch.stack(outputs, 1)

        table["ours step loop"] = (ours(), stepwise)
    return table


def forward_backward(
    module: nn.Module, call: Callable[[nn.Module, torch.Tensor], torch.Tensor], x: torch.Tensor
) -> float:
    module.zero_grad(set_to_none=True)
    inputs = x.clone().requires_grad_()
    start = time.perf_counter()
    call(module, inputs).sum().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--expansion", type=int, default=4, help="memory MLP hidden width / dim")
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (median)")
    parser.add_argument("--with-step", action="store_true", help="also time our token-by-token step loop")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    table = candidates(args)
    x = torch.randn(args.batch, args.length, args.dim, generator=torch.Generator().manual_seed(args.seed))
    baseline = next(iter(table))
    print(
        f"forward + backward, B={args.batch} T={args.length} dim={args.dim} chunk={args.chunk_size}, "
        f"2-layer MLP memory (hidden {args.expansion * args.dim}), momentum and weight decay on, "
        f"float32, torch {torch.__version__}, median of {args.repeats}"
    )
    for name, (module, _) in table.items():
        print(f"  {name:34s} {sum(p.numel() for p in module.parameters()):>8d} parameters")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for module, call in table.values():  # warm-up
            forward_backward(module, call, x)
        times: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(args.repeats):
            for name, (module, call) in table.items():
                times[name].append(forward_backward(module, call, x))
        print(f"\n{threads} thread{'s' if threads > 1 else ''}")
        print(f"  {'module':34s} {'ms':>9s} {'speed-up':>9s}")
        print("  " + "-" * 54)
        for name, measured in times.items():
            ratios = [ref / own for ref, own in zip(times[baseline], measured)]
            print(f"  {name:34s} {1000 * statistics.median(measured):9.1f} {statistics.median(ratios):8.2f}x")


if __name__ == "__main__":
    main()
