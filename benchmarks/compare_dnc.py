"""engrammar's DNC against the `dnc` package from PyPI, same configuration, same process.

Configuration (both sides): batch 16, length 64, input width 8, an LSTM controller of 64 units
(one layer) fed with the input and the previous step's read vectors, a DNC with 32 cells of width
16, 4 read heads and 1 write head, and a linear output layer on [controller output, read vectors].
Ours is ``examples/lstm_dnc.yaml`` built by the wiring engine (step-major: the feedback edge forces
one step at a time); theirs is ``dnc.DNC(..., rnn_type="lstm", num_hidden_layers=1)``.

One timed iteration = forward + mean-squared-error loss + backward (or forward alone, without
autograd). Iterations alternate between the two models; the table gives medians over ``--repeats``
iterations after ``--warmup`` ones, of the process's CPU time (robust on a shared machine: time
spent waiting for a core is not counted) and of wall time, and the ratio theirs / ours of the CPU
times (above 1: ours is faster). Run it single-threaded. Timings are printed, never asserted.

    pip install dnc flann --no-deps        # the peer package (flann: an import it makes)
    OMP_NUM_THREADS=1 python benchmarks/compare_dnc.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import engrammar
import torch

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lstm_dnc.yaml"


def build_ours(width: int, hidden: int, cells: int, cell_width: int, reads: int) -> torch.nn.Module:
    from engrammar.wiring.loader import load_data

    data = load_data(EXAMPLE)
    data["in_features"] = width
    data["nodes"]["ctrl"]["hidden_size"] = hidden
    data["nodes"]["mem"].update(memory_size=cells, word_size=cell_width, num_reads=reads, num_writes=1)
    data["nodes"]["head"]["out_features"] = width
    return engrammar.build(data)


def build_theirs(width: int, hidden: int, cells: int, cell_width: int, reads: int) -> torch.nn.Module:
    from dnc import DNC

    return DNC(
        input_size=width,
        hidden_size=hidden,
        rnn_type="lstm",
        num_layers=1,
        num_hidden_layers=1,
        nr_cells=cells,
        cell_size=cell_width,
        read_heads=reads,
        batch_first=True,
        gpu_id=-1,
    )


def run_ours(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)[0]


def run_theirs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x, (None, None, None), reset_experience=True)[0]


def timed(run, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, backward: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one iteration."""
    cpu, wall = time.process_time(), time.perf_counter()
    if backward:
        loss = torch.nn.functional.mse_loss(run(model, x), target)
        loss.backward()
        model.zero_grad(set_to_none=True)
    else:
        with torch.no_grad():
            run(model, x)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--cells", type=int, default=32)
    parser.add_argument("--cell-width", type=int, default=16)
    parser.add_argument("--reads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    sizes = (args.width, args.hidden, args.cells, args.cell_width, args.reads)
    ours, theirs = build_ours(*sizes), build_theirs(*sizes)
    x = torch.randn(args.batch, args.length, args.width)
    target = torch.randn(args.batch, args.length, args.width)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731

    print(
        f"batch {args.batch}, length {args.length}, {args.cells} cells x {args.cell_width}, {args.reads} read heads, "
        f"LSTM {args.hidden}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )
    print(f"parameters: engrammar {count(ours)}, dnc {count(theirs)}")
    print()
    header = ["pass".ljust(18), "engrammar CPU ms", "dnc CPU ms", "dnc / engrammar", "engrammar wall ms", "dnc wall ms"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("-" * (len(h) + 2) for h in header) + "|")
    for label, backward in (("forward + backward", True), ("forward only", False)):
        cpu: dict[str, list[float]] = {"ours": [], "theirs": []}
        wall: dict[str, list[float]] = {"ours": [], "theirs": []}
        for i in range(args.warmup + args.repeats):
            for name, run, model in (("ours", run_ours, ours), ("theirs", run_theirs, theirs)):
                cpu_s, wall_s = timed(run, model, x, target, backward)
                if i >= args.warmup:
                    cpu[name].append(cpu_s)
                    wall[name].append(wall_s)
        mine, peer = (statistics.median(cpu[k]) * 1e3 for k in ("ours", "theirs"))
        mine_wall, peer_wall = (statistics.median(wall[k]) * 1e3 for k in ("ours", "theirs"))
        cells = [
            label.ljust(18),
            f"{mine:.1f}",
            f"{peer:.1f}",
            f"{peer / mine:.2f}x",
            f"{mine_wall:.1f}",
            f"{peer_wall:.1f}",
        ]
        print(
            "| "
            + " | ".join(c.rjust(len(h)) if i else c.ljust(len(h)) for i, (c, h) in enumerate(zip(cells, header)))
            + " |"
        )


if __name__ == "__main__":
    main()
