"""The first-party plugins and the registry names each provides, for install hints.

When a name is not installed, ``engrammar.build("dnc")`` says which distribution provides it and
the command that installs it (``pip install engrammar-dnc``). This table is the only place those
hints come from. It lists exactly the plugins of this repository (``plugins/<name>/``) and the
entry points each declares; a test compares it with every plugin's ``pyproject.toml`` both ways,
so a new plugin adds one line here (its distribution and its names) and a hint can never name a
distribution that does not exist.
"""

from __future__ import annotations

__all__ = ["PROVIDERS", "provider_of"]

#: distribution -> the names of its entry points in the component groups (``engrammar.memories``, ...)
PROVIDERS: dict[str, tuple[str, ...]] = {
    "engrammar-attention": ("kv_attention", "sliding_window", "persistent_memory", "attention_memory", "short_term"),
    "engrammar-controllers": ("lstm", "gru", "mlp", "transformer"),
    "engrammar-dnc": ("dnc",),
    "engrammar-episodic": (
        "episodic",
        "long_term",
        "content_reader",
        "attention_reader",
        "sparse_reader",
        "append_writer",
        "usage_writer",
        "surprise_writer",
    ),
    "engrammar-gated-delta": ("gated_delta_rnn", "gated_deltanet", "z2_seam"),
    "engrammar-ntm": ("ntm",),
    "engrammar-pulse": ("pulse", "nsm", "prune_states"),
    "engrammar-realnet": ("realnet",),
    "engrammar-routers": ("softmax_router", "topk_router", "hash_router", "token_router"),
    "engrammar-tricks": (
        "ghost_gradients",
        "synaptic_noise",
        "darwinian_regeneration",
        "neurogenesis",
        "adamw8bit",
        "ema_weights",
        "grad_noise",
        "agc",
    ),
    "engrammar-titans": ("neural_memory", "ttt_linear", "ttt_mlp"),
    "engrammar-tasks": (
        "copy",
        "repeat_copy",
        "associative_recall",
        "mqar",
        "parity",
        "antipodal",
        "priority_sort",
        "n_back",
        "sine",
        "xor",
        "babi_like",
    ),
}


def provider_of(name: str) -> str | None:
    """The first-party distribution that provides ``name``, or ``None``."""
    for distribution, names in PROVIDERS.items():
        if name in names:
            return distribution
    return None
