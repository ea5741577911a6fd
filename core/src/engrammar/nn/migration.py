"""Loading state dicts saved under older parameter names.

When a component moves a parameter (a norm into a :class:`~engrammar.nn.ReadOut`, say), its
``state_dict`` keys change and checkpoints written before would no longer load. Declaring the move
keeps them loading::

    class MyMemory(Component):
        def __init__(self, ...):
            ...
            self.read_out = ReadOut(...)
            rename_on_load(self, {"norm.": "read_out.norm."})    # engrammar-mymemory 0.1 names

Before the module loads, every key of the incoming state dict that starts with the module's prefix
followed by an old name gets the new name instead, unless the new key is there too (then nothing is
renamed and a strict load reports the old key as unexpected). A rename ending in ``.`` renames a
whole sub-module. The hook runs wherever the module sits (top level, inside a wiring, inside
another component), and for every file format, since it looks at keys, not at saved metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

__all__ = ["KeyRenames", "rename_on_load"]


class KeyRenames:
    """A load-state-dict pre-hook mapping old key names to new ones, relative to the module's
    prefix. A class rather than a closure, so a module holding it still pickles."""

    def __init__(self, renames: Mapping[str, str]) -> None:
        for old, new in renames.items():
            if not old or not new or old == new or old.endswith(".") != new.endswith("."):
                raise ValueError(
                    f"bad rename {old!r} -> {new!r}: both non-empty, different, and both or neither ending in '.'"
                )
        self.renames = dict(renames)

    def __call__(self, module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        for old, new in self.renames.items():
            whole = old.endswith(".")
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                rest = key[len(prefix) + len(old) :]
                if rest and not whole:
                    continue  # "norm" names one key, not "norm_scale"
                target = prefix + new + rest
                if target not in state_dict:
                    state_dict[target] = state_dict.pop(key)

    def __repr__(self) -> str:
        return f"KeyRenames({self.renames!r})"


def rename_on_load(module: nn.Module, renames: Mapping[str, str]) -> KeyRenames:
    """Make ``module.load_state_dict`` (and any parent's) accept keys saved under old names:
    ``renames`` maps an old name (relative to the module, e.g. ``"norm."`` or ``"scale"``) to its
    new one. Returns the hook."""
    hook = KeyRenames(renames)
    if hasattr(module, "register_load_state_dict_pre_hook"):  # public since torch 2.5
        module.register_load_state_dict_pre_hook(hook)
    else:  # pragma: no cover - torch 2.4
        module._register_load_state_dict_pre_hook(hook, with_module=True)
    return hook
