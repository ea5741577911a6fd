"""Test-time adaptation: a memory trained on ``mqar`` keeps what a new stream taught it.

A model trained on ``mqar`` (every sequence: its own random key -> value pairs in the context, then
queries) meets streams it never saw in training: one fixed mapping of ``num_pairs`` keys to values
per stream, shown in E *exposure* segments (an ``mqar`` sequence with that mapping: pairs in the
context, then every key queried), followed by one *recall* segment whose context holds no pair —
random value tokens instead — and whose queries ask every key again. The state is carried from
segment to segment. A recall query can only be answered from what the memory learnt, at test time,
during the exposures, at least a segment earlier.

Printed: recall accuracy before any exposure (E = 0: chance, 1 / (vocab / 2)) and after E = 1, 2, 4
exposures; the in-context accuracy on the exposure segments; and both again with the memory frozen
at test time (``learn_at_test_time: false``, same weights).

    engrammar train plugins/titans/examples/neural_memory_mqar.yaml --task mqar --steps 2000 \\
        --set train.lr=3e-3 --out runs/neural_memory_mqar-mqar
    python plugins/titans/examples/test_time_adaptation.py runs/neural_memory_mqar-mqar
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import torch
import torch.nn.functional as F
from engrammar_train import load_checkpoint, rebuild_model

MEMORIES = ("neural_memory", "ttt_linear", "ttt_mlp")


def segment(mapping: torch.Tensor, *, show_pairs: bool, seq_len: int, vocab: int, generator: torch.Generator):
    """One mqar-style segment per stream: (B, seq_len) tokens, targets and query mask.
    mapping: (B, N, 2) key and value tokens."""
    batch, pairs = mapping.shape[:2]
    context = 2 * pairs
    tokens = torch.randint(vocab // 2, vocab, (batch, seq_len), generator=generator)  # value tokens as filler
    if show_pairs:
        order = torch.rand(batch, pairs, generator=generator).argsort(1)
        shown = mapping.gather(1, order[..., None].expand(-1, -1, 2))
        tokens[:, :context] = shown.reshape(batch, context)
    slots = (seq_len - context) // 2
    chosen = torch.rand(batch, slots, generator=generator).argsort(1)[:, :pairs]  # one slot per key
    positions = context + 2 * chosen
    tokens.scatter_(1, positions, mapping[..., 0])
    targets = torch.zeros_like(tokens).scatter_(1, positions, mapping[..., 1])
    mask = torch.zeros(tokens.shape, dtype=torch.bool).scatter_(1, positions, True)
    return tokens, targets, mask


def accuracy(model, tokens, targets, mask, state, vocab):
    with torch.no_grad():
        y, state = model(F.one_hot(tokens, vocab).float(), state)
    right = (y.argmax(-1) == targets) & mask
    return float(right.sum()) / float(mask.sum()), state


def frozen(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe with every test-time-learning memory frozen outside training."""
    recipe = copy.deepcopy(recipe)
    for node in recipe.get("nodes", {}).values():
        if node.get("use") in MEMORIES:
            node["learn_at_test_time"] = False
    return recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder (or checkpoint file) of a model trained on mqar")
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--exposures", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    saved = load_checkpoint(args.run)
    task = saved["task"]
    vocab, seq_len, pairs = task.get("vocab_size", 64), task.get("seq_len", 64), task.get("num_pairs", 8)
    models = {}
    for label, recipe in (("learning", saved["model_spec"]), ("frozen", frozen(saved["model_spec"]))):
        model = rebuild_model(recipe)
        model.load_state_dict(saved["model"])
        models[label] = model.eval()

    print(f"mqar streams: vocab {vocab}, segments of {seq_len} tokens, {pairs} pairs, {args.streams} streams")
    print(f"{'memory':10s} {'exposures':>9s} {'recall':>8s} {'in-context':>11s}")
    for label, model in models.items():
        for exposures in args.exposures:
            generator = torch.Generator().manual_seed(args.seed)
            keys = torch.rand(args.streams, vocab // 2 - 1, generator=generator).argsort(1)[:, :pairs] + 1
            values = torch.rand(args.streams, vocab // 2, generator=generator).argsort(1)[:, :pairs] + vocab // 2
            mapping = torch.stack([keys, values], -1)
            state, seen = None, []
            for _ in range(exposures):
                shown = segment(mapping, show_pairs=True, seq_len=seq_len, vocab=vocab, generator=generator)
                score, state = accuracy(model, *shown, state, vocab)
                seen.append(score)
            asked = segment(mapping, show_pairs=False, seq_len=seq_len, vocab=vocab, generator=generator)
            recall, _ = accuracy(model, *asked, state, vocab)
            context = f"{100 * sum(seen) / len(seen):10.1f}%" if seen else f"{'':>11s}"
            print(f"{label:10s} {exposures:9d} {100 * recall:7.1f}% {context}")


if __name__ == "__main__":
    main()
