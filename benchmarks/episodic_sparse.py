"""Sparse against dense reads of a large ``episodic`` table: memory kept for the backward pass, peak
memory and time of forward + backward.

Two memories with the same table and writer (``usage_writer``), one reader each:

    sparse   sparse_reader, top_k 8: the k rows read are gathered; backward keeps those rows
    dense    content_reader without sharpening: softmax over every slot; backward keeps the table
             of every step (and every score)

Each runs ``--steps`` steps (default 256) of random inputs (batch 1, input 32, keys and values 16
wide) from a table whose every slot already holds an episode, then backpropagates a fixed random
projection of the outputs. Printed per table size and reader:

- kept: bytes of the distinct storages autograd saved for the backward pass (a saved-tensor hook);
- peak: on a CUDA device, the peak allocated memory of forward + backward above what was allocated
  before; on the CPU, the peak resident memory of a fresh process running only that forward +
  backward (after a two-step warm-up), above its resident memory just before (so one size's run
  cannot hide another's), with glibc's mmap threshold fixed at 128 KiB (``MALLOC_MMAP_THRESHOLD_``)
  so that a freed table goes back to the system instead of staying resident in the heap;
  the median over ``--repeats`` such runs;
- ms/step: the median over ``--repeats`` runs of forward + backward time, divided by the steps;
- and the dense/sparse ratio of each.

    OMP_NUM_THREADS=1 python benchmarks/episodic_sparse.py [--slots 4096 65536] [--steps 256] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import engrammar
import torch

READERS = {
    "sparse": {"use": "sparse_reader", "top_k": 8},
    "dense": {"use": "content_reader", "sharpening": False},
}
IN_FEATURES, KEY, VALUE, BATCH = 32, 16, 16, 1


def build(reader: str, slots: int, device: str) -> tuple[engrammar.Component, dict]:
    torch.manual_seed(0)
    memory = engrammar.build(
        "episodic",
        in_features=IN_FEATURES,
        num_slots=slots,
        key_size=KEY,
        value_size=VALUE,
        readers=[READERS[reader]],
        writers=[{"use": "usage_writer"}],
    ).to(device)
    generator = torch.Generator().manual_seed(1)
    state = memory.init_state(BATCH, device=device)
    state["keys"] = torch.randn(BATCH, slots, KEY, generator=generator).to(device)
    state["values"] = torch.randn(BATCH, slots, VALUE, generator=generator).to(device)
    state["occupied"] = torch.ones(BATCH, slots, dtype=torch.bool, device=device)
    return memory, state


def inputs(steps: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(BATCH, steps, IN_FEATURES, generator=generator).to(device)
    projection = torch.randn(BATCH, steps, VALUE, generator=generator).to(device)
    return x, projection


def forward_backward(memory: engrammar.Component, state: dict, x: torch.Tensor, projection: torch.Tensor) -> None:
    y, _ = memory(x, state)
    (y * projection).sum().backward()


def kept_bytes(memory: engrammar.Component, state: dict, x: torch.Tensor) -> int:
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        memory(x, state)
    return sum(storages.values())


def peak_bytes(reader: str, slots: int, steps: int, device: str) -> int:
    if device.startswith("cuda"):
        memory, state = build(reader, slots, device)
        x, projection = inputs(steps, device)
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        forward_backward(memory, state, x, projection)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    command = [sys.executable, __file__, "--peak-of", reader, str(slots), str(steps)]
    # glibc's dynamic mmap threshold would keep freed multi-MiB tables in the heap (resident, though
    # free); a fixed threshold returns them, so the peak counts the tensors alive at once
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return int(result.stdout.strip().splitlines()[-1])


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def high_water_bytes() -> int:
    """The peak resident memory of this process image (VmHWM). Not ``ru_maxrss``: Linux carries
    that over from the forked parent across ``exec``, so a large parent would set the floor."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def peak_in_this_process(reader: str, slots: int, steps: int) -> int:
    """Peak resident memory of one forward + backward above the resident memory just before (after
    a two-step warm-up, which sets up what any first call allocates)."""
    memory, state = build(reader, slots, "cpu")
    x, projection = inputs(steps, "cpu")
    forward_backward(memory, state, x[:, :2], projection[:, :2])
    memory.zero_grad(set_to_none=True)
    before = resident_bytes()
    forward_backward(memory, state, x, projection)
    return high_water_bytes() - before


def seconds_per_step(reader: str, slots: int, steps: int, repeats: int, device: str) -> float:
    memory, state = build(reader, slots, device)
    x, projection = inputs(steps, device)
    times = []
    for _ in range(repeats):
        memory.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        forward_backward(memory, state, x, projection)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[4096, 65536])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peak-of", nargs=3, metavar=("READER", "SLOTS", "STEPS"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    args = parser.parse_args()
    if args.peak_of:
        reader, slots, steps = args.peak_of
        print(peak_in_this_process(reader, int(slots), int(steps)))
        return
    mib = 2.0**20
    print(f"episodic, {args.steps} steps, batch {BATCH}, keys/values {KEY}/{VALUE}, device {args.device}")
    print(f"{'slots':>7} {'reader':>7} {'kept MiB':>10} {'peak MiB':>10} {'ms/step':>9}")
    for slots in args.slots:
        rows = {}
        for reader in READERS:
            memory, state = build(reader, slots, args.device)
            x, _ = inputs(args.steps, args.device)
            kept = kept_bytes(memory, state, x)
            del memory, state
            peak = statistics.median(peak_bytes(reader, slots, args.steps, args.device) for _ in range(args.repeats))
            seconds = seconds_per_step(reader, slots, args.steps, args.repeats, args.device)
            rows[reader] = (kept, peak, seconds)
            print(f"{slots:>7} {reader:>7} {kept / mib:>10.1f} {peak / mib:>10.1f} {seconds * 1e3:>9.2f}")
            if args.json:
                print(json.dumps({"slots": slots, "reader": reader, "kept": kept, "peak": peak, "seconds": seconds}))
        (dk, dp, ds), (sk, sp, ss) = rows["dense"], rows["sparse"]
        print(f"{slots:>7} {'dense/sparse':>14} kept {dk / sk:.1f}x, peak {dp / max(sp, 1):.1f}x, time {ds / ss:.2f}x")


if __name__ == "__main__":
    main()
