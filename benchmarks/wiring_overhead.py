"""The wiring engine's overhead: a built wiring against the equivalent hand-written ``nn.Module``.

    python benchmarks/wiring_overhead.py [--batch 32] [--length 256] [--hidden 256] [--repeats 9]
                                         [--threads 1] [--device cpu] [--backward]

Three architectures, each run by the engine and by hand, with the same parameters (checked to give
the same outputs before timing):

- ``layer-major``: proj -> two memories side by side -> head (no feedback: one ``forward`` call
  per node over the whole sequence);
- ``step-major``: a controller reading its memory's output of the previous step (``mem@-1``);
- ``step-major, 5-node loop``: one controller driving two memories through two interfaces.

Two hand-written baselines: ``by hand (components)`` calls the same components' ``_sequence`` /
``_step`` directly in a plain loop, so the ratio against it is the engine's own overhead
(scheduling, gathering inputs, state dicts); ``by hand (plain torch)`` is what one would write
without the library (``nn.Linear`` and the averaging formula inline), so the ratio against it also
includes the cost of the component protocol. Baseline and wiring run alternately; times are
medians of ``--repeats`` runs after a warm-up, in milliseconds, and the ratio is the median of the
per-repeat ratios (wiring / baseline), and "min ratio" the ratio of the fastest runs (the least
disturbed by other load); on the CPU the clock is the process's CPU time (so other
processes on a shared machine do not count), on a GPU wall time. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from engrammar.wiring import Graph, Wiring
from torch import Tensor, nn


def layer_major_graph(width: int, hidden: int) -> Graph:
    w = Wiring("layer_major", in_features=width)
    proj = w.node("proj", "linear", out_features=hidden, inputs=w.x)
    fast = w.node("fast", "ema", init_decay=0.5, inputs=proj)
    slow = w.node("slow", "ema", init_decay=0.95, inputs=proj)
    w.node("head", "linear", out_features=width, inputs=[fast, slow])
    w.output("head")
    return w.build()


def feedback_graph(width: int, hidden: int) -> Graph:
    w = Wiring("step_major", in_features=width)
    ctrl = w.node("ctrl", "linear", out_features=hidden, inputs=[w.x, "mem@-1"])
    mem = w.node("mem", "ema", init_decay=0.9, inputs=ctrl)
    w.node("head", "linear", out_features=width, inputs=[ctrl, mem])
    w.output("head")
    return w.build()


def shared_graph(width: int, hidden: int) -> Graph:
    w = Wiring("step_major_5", in_features=width)
    ctrl = w.node("ctrl", "linear", out_features=hidden, inputs=[w.x, "short@-1", "long@-1"])
    short_in = w.node("short_in", "linear", out_features=hidden // 2, inputs=ctrl)
    long_in = w.node("long_in", "linear", out_features=hidden // 2, inputs=ctrl)
    short = w.node("short", "ema", init_decay=0.5, inputs=short_in)
    long = w.node("long", "ema", init_decay=0.95, inputs=long_in)
    w.node("head", "linear", out_features=width, inputs=[ctrl, short, long])
    w.output("head")
    return w.build()


class LayerMajorByHand(nn.Module):
    """The layer-major graph written by hand around the same components."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.proj, self.fast, self.slow, self.head = (graph.nodes[n] for n in ("proj", "fast", "slow", "head"))

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        p, _ = self.proj._sequence(x, {})
        f, _ = self.fast._sequence(p, {"average": x.new_zeros(batch, p.shape[-1])})
        s, _ = self.slow._sequence(p, {"average": x.new_zeros(batch, p.shape[-1])})
        y, _ = self.head._sequence(torch.cat([f, s], dim=-1), {})
        return y


class FeedbackByHand(nn.Module):
    """The feedback graph as a loop calling the same components' ``_step``."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.ctrl, self.mem, self.head = (graph.nodes[n] for n in ("ctrl", "mem", "head"))

    def forward(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        hidden = self.ctrl.out_features
        state = {"average": x.new_zeros(batch, hidden)}
        m = x.new_zeros(batch, hidden)
        controls, memories = [], []
        for t in range(length):
            c, _ = self.ctrl._step(torch.cat([x[:, t], m], dim=-1), {})
            m, state = self.mem._step(c, state)
            controls.append(c)
            memories.append(m)
        y, _ = self.head._sequence(torch.cat([torch.stack(controls, 1), torch.stack(memories, 1)], dim=-1), {})
        return y


class FeedbackPlainTorch(nn.Module):
    """The feedback graph as one would write it without the library."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.ctrl, self.head = graph.nodes["ctrl"].proj, graph.nodes["head"].proj
        self.decay_logit = graph.nodes["mem"].decay_logit

    def forward(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        decay = torch.sigmoid(self.decay_logit)
        m = x.new_zeros(batch, self.ctrl.out_features)
        controls, memories = [], []
        for t in range(length):
            c = self.ctrl(torch.cat([x[:, t], m], dim=-1))
            m = decay * m + (1 - decay) * c
            controls.append(c)
            memories.append(m)
        return self.head(torch.cat([torch.stack(controls, 1), torch.stack(memories, 1)], dim=-1))


class SharedByHand(nn.Module):
    """The 5-node loop calling the same components' ``_step``."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        names = ("ctrl", "short_in", "long_in", "short", "long", "head")
        self.ctrl, self.short_in, self.long_in, self.short, self.long, self.head = (graph.nodes[n] for n in names)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        half = self.short_in.out_features
        short_state = {"average": x.new_zeros(batch, half)}
        long_state = {"average": x.new_zeros(batch, half)}
        s = l_ = x.new_zeros(batch, half)
        outs = []
        for t in range(length):
            c, _ = self.ctrl._step(torch.cat([x[:, t], s, l_], dim=-1), {})
            si, _ = self.short_in._step(c, {})
            li, _ = self.long_in._step(c, {})
            s, short_state = self.short._step(si, short_state)
            l_, long_state = self.long._step(li, long_state)
            outs.append(torch.cat([c, s, l_], dim=-1))
        y, _ = self.head._sequence(torch.stack(outs, 1), {})
        return y


class SharedPlainTorch(nn.Module):
    """The 5-node loop without the library."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.ctrl, self.short_in, self.long_in, self.head = (
            graph.nodes[n].proj for n in ("ctrl", "short_in", "long_in", "head")
        )
        self.short_logit, self.long_logit = graph.nodes["short"].decay_logit, graph.nodes["long"].decay_logit

    def forward(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        a_short, a_long = torch.sigmoid(self.short_logit), torch.sigmoid(self.long_logit)
        s = l_ = x.new_zeros(batch, self.short_in.out_features)
        outs = []
        for t in range(length):
            c = self.ctrl(torch.cat([x[:, t], s, l_], dim=-1))
            s = a_short * s + (1 - a_short) * self.short_in(c)
            l_ = a_long * l_ + (1 - a_long) * self.long_in(c)
            outs.append(torch.cat([c, s, l_], dim=-1))
        return self.head(torch.stack(outs, 1))


def paired_ms(
    first: Callable[[], object], second: Callable[[], object], repeats: int, device: torch.device
) -> tuple[float, float, float, float]:
    """Median times of two functions (ms), the median of their per-repeat ratios, and the ratio of
    their fastest runs. The two run alternately, so a machine whose load changes during the run
    slows both alike."""

    # On the CPU, the process's CPU time: on a shared machine, time spent waiting for a core is
    # not the code's cost (with one intra-op thread it equals wall time on an idle machine).
    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def once(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return clock() - start

    for _ in range(2):  # warm-up
        first(), second()
    pairs = [(once(first), once(second)) for _ in range(repeats)]
    a, b = zip(*pairs)
    ratios = [y / x for x, y in pairs]
    return 1000 * statistics.median(a), 1000 * statistics.median(b), statistics.median(ratios), min(b) / min(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--width", type=int, default=16, help="input and output width")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backward", action="store_true", help="time forward + backward instead of forward")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.length, args.width, device=device)

    layer = layer_major_graph(args.width, args.hidden).to(device)
    feedback = feedback_graph(args.width, args.hidden).to(device)
    shared = shared_graph(args.width, args.hidden).to(device)
    cases = [
        ("layer-major", layer, [("by hand (components)", LayerMajorByHand(layer))]),
        (
            "step-major",
            feedback,
            [
                ("by hand (components)", FeedbackByHand(feedback)),
                ("by hand (plain torch)", FeedbackPlainTorch(feedback)),
            ],
        ),
        (
            "step-major, 5-node loop",
            shared,
            [("by hand (components)", SharedByHand(shared)), ("by hand (plain torch)", SharedPlainTorch(shared))],
        ),
    ]

    def timed(model: Callable[[Tensor], Tensor]) -> Callable[[], object]:
        if args.backward:
            return lambda: model(x).sum().backward()
        return lambda: _no_grad(model, x)

    mode = "forward + backward" if args.backward else "forward (no grad)"
    print(
        f"wiring overhead, {mode}: batch {args.batch}, length {args.length}, width {args.width}, "
        f"hidden {args.hidden}, device {args.device}, threads {args.threads}, median of {args.repeats}"
    )
    print(f"{'architecture':<26}{'baseline':<24}{'baseline ms':>12}{'wiring ms':>12}{'ratio':>8}{'min ratio':>10}")
    for label, graph, baselines in cases:
        graph_fn: Callable[[Tensor], Tensor] = lambda inputs, g=graph: g(inputs)[0]  # noqa: E731
        with torch.no_grad():
            reference = graph_fn(x)
            for name, module in baselines:
                torch.testing.assert_close(module(x), reference, msg=f"{label}: {name} differs from the wiring")
        for name, module in baselines:
            base_ms, wiring_ms, ratio, best = paired_ms(timed(module), timed(graph_fn), args.repeats, device)
            print(f"{label:<26}{name:<24}{base_ms:>12.2f}{wiring_ms:>12.2f}{ratio:>7.2f}x{best:>9.2f}x")


def _no_grad(model: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x)


if __name__ == "__main__":
    main()
