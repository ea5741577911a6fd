"""State bytes per sample against sequence length: the test-time-learning memories beside the
transformer's key/value cache.

Runs each model over sequences of growing length and prints ``engrammar.state.state_nbytes`` of
the state it returns, divided by the batch size (float32). The memories of engrammar-titans keep
fast weights (and momentum, and the chunk-start weights) whose size does not depend on the length;
a transformer without a window keeps every key and value; with a window, the last ``window - 1``.
All models: width 64, and the sizes of the examples/titans_*.yaml wirings.

    python benchmarks/titans_state_bytes.py [--lengths 64 256 1024 4096]
"""

from __future__ import annotations

import argparse

import engrammar
import torch
from engrammar.state import state_nbytes

MODELS = {
    "neural_memory (2 heads x 32, depth 2, x4, chunk 16)": (
        "neural_memory",
        {"hidden_size": 64, "num_heads": 2, "head_dim": 32, "memory_depth": 2, "chunk_size": 16},
    ),
    "neural_memory, chunk 1 (no anchor)": (
        "neural_memory",
        {"hidden_size": 64, "num_heads": 2, "head_dim": 32, "memory_depth": 2, "chunk_size": 1},
    ),
    "neural_memory, matrix (depth 1)": (
        "neural_memory",
        {"hidden_size": 64, "num_heads": 2, "head_dim": 32, "memory_depth": 1, "chunk_size": 16},
    ),
    "ttt_linear (2 heads x 32, b 16)": ("ttt_linear", {"hidden_size": 64, "num_heads": 2, "head_dim": 32}),
    "ttt_mlp (2 heads x 32, x4, b 16)": ("ttt_mlp", {"hidden_size": 64, "num_heads": 2, "head_dim": 32}),
    "transformer, 1 layer, window 16": (
        "transformer",
        {"hidden_size": 64, "num_layers": 1, "num_heads": 4, "window": 16},
    ),
    "transformer, 1 layer, no window (KV cache)": ("transformer", {"hidden_size": 64, "num_layers": 1, "num_heads": 4}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    header = f"{'model':52s}" + "".join(f"{f'T={t}':>12s}" for t in args.lengths)
    print("state bytes per sample (float32)")
    print(header)
    print("-" * len(header))
    for label, (name, fields) in MODELS.items():
        try:
            model = engrammar.build(name, in_features=64, **fields).eval()
        except engrammar.SpecError as err:  # a plugin that is not installed
            print(f"{label:52s}  not available: {err}")
            continue
        cells = []
        for length in args.lengths:
            state = None
            with torch.no_grad():
                for start in range(0, length, 512):  # in pieces, carrying the state: bounded memory
                    piece = torch.randn(args.batch, min(512, length - start), 64)
                    _, state = model(piece, state)
            cells.append(f"{state_nbytes(state) // args.batch:>12,d}")
        print(f"{label:52s}" + "".join(cells))


if __name__ == "__main__":
    main()
