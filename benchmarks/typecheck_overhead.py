"""What the run-time check (``engrammar.typecheck``) costs: forward and step with the check off and on.

    OMP_NUM_THREADS=1 python benchmarks/typecheck_overhead.py [--batch 8] [--length 32] [--repeats 9]
                                                               [--modes off,on]

Six components, from the cheapest to a wiring that runs a DNC step by step: for each, one
``forward`` over a (B, T) sequence and a loop of T ``step`` calls, under ``torch.no_grad``, timed
with the check off and on, alternately, after a warm-up. Times are medians of ``--repeats`` runs in
microseconds per call (process CPU time, so other processes on a shared machine do not count);
"on/off" is the median of the per-repeat ratios.

With the check off the component classes hold their original, unwrapped functions (the script
verifies it), so the only work the check adds to an unchecked call is the flag test a wiring makes
once per step-major stage in ``forward`` and once per ``step``: "flag test" is that cost (the test
timed alone, times the number of tests the call makes) as a share of the unchecked call.
``--modes off`` runs without touching the check, for a run against a tree that does not have it.
A second table runs every conformance property once per component with the check off and on.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import engrammar
import torch

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def cases(width: int) -> list[tuple[str, Callable[[], torch.nn.Module]]]:
    return [
        ("ema", lambda: engrammar.build("ema", in_features=width)),
        ("linear", lambda: engrammar.build("linear", in_features=width, out_features=width)),
        ("lstm (hidden 64)", lambda: engrammar.build("lstm", in_features=width, hidden_size=64)),
        (
            "dnc (32 x 16, 4 reads)",
            lambda: engrammar.build("dnc", in_features=width, memory_size=32, word_size=16, num_reads=4),
        ),
        (
            "transformer (window 16)",
            lambda: engrammar.build("transformer", in_features=width, hidden_size=32, num_heads=4, window=16),
        ),
        ("wiring lstm_dnc.yaml", lambda: engrammar.build(EXAMPLES / "lstm_dnc.yaml")),
    ]


def flag_tests(component: torch.nn.Module, call: str) -> int:
    """How many times an unchecked call asks whether the check is on."""
    plan = getattr(component, "plan", None)
    if plan is None:
        return 0
    if call == "step":
        return 1
    return sum(1 for stage in plan.stages if stage.mode != "layer-major")


def unwrapped(component: torch.nn.Module) -> bool:
    return not any(
        getattr(cls.__dict__.get(name), "_engrammar_checked", False)
        for cls in type(component).__mro__
        for name in ("forward", "step", "init_state")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--width", type=int, default=7, help="input width (the wiring example's is 7)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--modes", default="off,on", help="comma-separated: off, on")
    args = parser.parse_args()
    modes = args.modes.split(",")
    torch.manual_seed(0)

    def switch(mode: str) -> None:
        if "on" in modes:
            engrammar.typecheck(mode == "on")

    switch("off")
    flag_ns = 0.0
    if "on" in modes:
        from engrammar.typechecking import typecheck_enabled

        flag_ns = min(timeit.repeat(typecheck_enabled, number=200_000, repeat=5)) / 200_000 * 1e9

    header = f"{'component':26} {'call':8}" + "".join(f" {m + ' (us)':>11}" for m in modes)
    header += f" {'on/off':>7} {'flag test':>10}" if modes == ["off", "on"] else ""
    print(f"B={args.batch}, T={args.length}, repeats={args.repeats}, torch {torch.__version__}, no_grad, CPU time")
    print(header)
    print("-" * len(header))
    for label, make in cases(args.width):
        component = make().eval()
        x = torch.randn(args.batch, args.length, component.in_features)
        state0 = component.init_state(args.batch)
        if not unwrapped(component):
            raise SystemExit(f"{label}: the check is off but the class holds wrapped methods")

        def forward(component: torch.nn.Module = component, x: torch.Tensor = x, state0: dict = state0) -> None:
            component(x, state0)

        def steps(component: torch.nn.Module = component, x: torch.Tensor = x, state0: dict = state0) -> None:
            state = state0
            for t in range(x.shape[1]):
                _, state = component.step(x[:, t], state)

        for call, fn, per in (("forward", forward, 1), ("step", steps, args.length)):
            with torch.no_grad():
                number = max(1, timeit.Timer(fn).autorange()[0] // 4)
                times: dict[str, list[float]] = {m: [] for m in modes}
                for mode in modes:  # warm-up, and a first pass through the check's caches
                    switch(mode)
                    fn()
                for _ in range(args.repeats):
                    for mode in modes:
                        switch(mode)
                        start = time.process_time()
                        for _ in range(number):
                            fn()
                        times[mode].append((time.process_time() - start) / (number * per) * 1e6)
                switch("off")
            row = f"{label:26} {call:8}" + "".join(f" {statistics.median(times[m]):11.1f}" for m in modes)
            if modes == ["off", "on"]:
                ratio = statistics.median(on / off for on, off in zip(times["on"], times["off"], strict=True))
                share = flag_ns * 1e-3 * flag_tests(component, call) / statistics.median(times["off"])
                row += f" {ratio:6.1f}x {share:9.3%}"
            print(row)
    if flag_ns:
        print(f"\nflag test alone: {flag_ns:.0f} ns")
    if modes == ["off", "on"]:
        conformance(args.repeats)


def conformance(repeats: int) -> None:
    """Every conformance property once per component (tiny sizes, as the suite draws them), with the
    check off and on: what ``conformance_tests(typecheck=True)`` adds to a plugin's test run."""
    from engrammar.testing import PROPERTIES, Case, check_property

    tiny = {"in_features": 3}
    components = [
        ("ema", tiny),
        ("lstm", {**tiny, "hidden_size": 4, "num_layers": 2}),
        ("transformer", {**tiny, "hidden_size": 4, "num_heads": 2, "window": 3}),
        ("gated_deltanet", {**tiny, "hidden_size": 3, "num_heads": 2, "head_dim": 3, "value_dim": 2, "chunk_size": 2}),
        ("dnc", {**tiny, "memory_size": 4, "word_size": 3, "num_reads": 2, "num_writes": 1}),
    ]
    case = Case(batch_size=2, length=5, seed=1)
    print(f"\nconformance: all {len(PROPERTIES)} properties once, batch 2, length 5 (ms, median of {repeats})")
    print(f"{'component':26} {'off (ms)':>9} {'on (ms)':>9} {'on/off':>7}")
    for name, spec in components:
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(repeats):
            for on in (False, True):
                start = time.process_time()
                with engrammar.typecheck(on):
                    for prop in PROPERTIES:
                        check_property(prop, name, spec, case)
                times[on].append((time.process_time() - start) * 1e3)
        off, on_ = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name:26} {off:9.0f} {on_:9.0f} {on_ / off:6.2f}x")


if __name__ == "__main__":
    main()
