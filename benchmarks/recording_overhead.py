"""What an open ``engrammar.recording`` costs: the same calls with no recording, inside one that
keeps losses and metrics (what the trainer opens every step), and inside one that keeps traces.

    python benchmarks/recording_overhead.py [--batch 16] [--length 64] [--repeats 9] [--threads 1] [--backward]

Models (each a wiring, run with ``forward``):

- ``moe, step-major``: a controller reading a mixture of two memories one step late, so the
  ``moe`` node runs once per step and reports its load-balancing statistics per step;
- ``moe, layer-major``: the same mixture without the feedback edge (one report per call);
- ``dnc, step-major``: a controller reading a DNC's read vectors one step late (needs
  engrammar-dnc); a recording with traces makes it report its weightings every step and run its
  unfused step.

Each case runs alternately with the no-recording baseline; times are medians over ``--repeats``
runs after a warm-up, in milliseconds of process CPU time (other processes on a shared machine do
not count), and the ratio is the median of the per-repeat ratios (case / no recording). With no
recording open the components' only extra cost is one context-variable lookup per report, which
is inside the baseline itself. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import engrammar
import torch
from engrammar.wiring import Graph, Wiring


def mixture_graph(width: int, hidden: int, *, feedback: bool) -> Graph:
    w = Wiring("mixture", in_features=width)
    ctrl = w.node("ctrl", "linear", out_features=hidden, inputs=[w.x, "mix@-1"] if feedback else w.x)
    fast = w.node("fast", "ema", init_decay=0.5, inputs=ctrl)
    slow = w.node("slow", "ema", init_decay=0.95, inputs=ctrl)
    w.node("mix", "moe", router=ctrl, experts=[fast, slow], top_k=1)
    w.output("mix")
    return w.build()


def dnc_graph(width: int, hidden: int) -> Graph:
    w = Wiring("dnc_loop", in_features=width)
    ctrl = w.node("ctrl", "linear", out_features=hidden, inputs=[w.x, "mem@-1"])
    w.node("mem", "dnc", memory_size=16, word_size=8, num_reads=2, inputs=ctrl)
    w.output("mem")
    return w.build()


def timed(run: Callable[[], None]) -> float:
    start = time.process_time()
    run()
    return (time.process_time() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backward", action="store_true", help="time forward + backward (default: forward only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    models: dict[str, Graph] = {
        "moe, step-major": mixture_graph(args.width, args.hidden, feedback=True),
        "moe, layer-major": mixture_graph(args.width, args.hidden, feedback=False),
    }
    try:
        models["dnc, step-major"] = dnc_graph(args.width, args.hidden)
    except engrammar.RegistryError:
        print("(engrammar-dnc is not installed: the dnc row is left out)")
    x = torch.randn(args.batch, args.length, args.width)

    def call(model: Graph, opened: Callable[[], contextlib.AbstractContextManager[object]]) -> Callable[[], None]:
        def run() -> None:
            grad = torch.enable_grad() if args.backward else torch.no_grad()
            with grad, opened() as record:
                y, _ = model(x)
                loss = y.square().mean()
                if record is not None:
                    loss = loss + sum(record.losses.values(), torch.zeros(()))
            if args.backward:
                loss.backward()

        return run

    cases: dict[str, Callable[[Graph], contextlib.AbstractContextManager[object]]] = {
        "recording": lambda model: engrammar.recording(model),
        "recording, traces": lambda model: engrammar.recording(model, traces=True),
    }
    mode = "forward + backward" if args.backward else "forward"
    print(f"{mode}, batch {args.batch}, length {args.length}, {args.threads} thread(s), {args.repeats} repeats")
    print(f"{'model':<18} {'case':<20} {'no recording ms':>16} {'case ms':>10} {'ratio':>7}")
    for name, model in models.items():
        baseline = call(model, contextlib.nullcontext)
        for case, opener in cases.items():
            run = call(model, lambda opener=opener, model=model: opener(model))
            baseline()
            run()  # warm-up
            base_times, case_times = [], []
            for _ in range(args.repeats):
                base_times.append(timed(baseline))
                case_times.append(timed(run))
            ratio = statistics.median(c / b for c, b in zip(case_times, base_times))
            print(
                f"{name:<18} {case:<20} {statistics.median(base_times):>16.2f} "
                f"{statistics.median(case_times):>10.2f} {ratio:>7.2f}"
            )


if __name__ == "__main__":
    main()
