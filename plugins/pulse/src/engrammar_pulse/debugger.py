"""``PulseDebugger``: while enabled, every PULSE module called writes what it did to files, one
JSON-lines file per layer in ``log_dir``:

- state norms: the mean, smallest and largest L2 norm of the states a propagator or layer returns;
- routing entropy: the mean entropy (in nats) of the routing weights over the state slots, and
  its largest possible value log S, for a router;
- gate values: the mean of each gate of a propagator (``update`` for GRU, ``forget`` and ``input``
  for the LSTM form).

The modules themselves keep nothing: they hand these tensors to :func:`debug_report`, which does
nothing unless a debugger is enabled. Layers are named by their path in a model given to
:meth:`PulseDebugger.watch`, otherwise by class and order of first appearance
(``StatePropagator_0``, ``StatePropagator_1``, ...).
"""

from __future__ import annotations

import json
import math
import weakref
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["PulseDebugger", "debug_report"]

#: the debuggers enabled now, in order of enabling
_ENABLED: list[PulseDebugger] = []


def debug_report(module: nn.Module, **tensors: Tensor | dict[str, Tensor] | None) -> None:
    """Hand ``states`` (..., D), ``routing`` (..., S) weights and ``gates`` (name -> tensor) of one
    call of ``module`` to every enabled debugger; nothing happens when none is enabled."""
    for debugger in list(_ENABLED):
        debugger.record(module, tensors)


class PulseDebugger:
    """Records state norms, routing entropy and gate values of every PULSE layer to files in
    ``log_dir`` (``<layer>.jsonl``, one line per call) while enabled."""

    def __init__(self, log_dir: str | Path = "debug_logs", verbose: bool = False) -> None:
        #: the folder as given (shown in messages)
        self.log_dir = Path(log_dir)
        #: where the files go: ``log_dir`` taken from the working directory at construction
        self.folder = self.log_dir.absolute()
        self.verbose = verbose
        #: every record written, by layer name, in order
        self.records: dict[str, list[dict[str, Any]]] = {}
        self._names: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
        self._counts: dict[str, int] = {}

    # ---- switching on and off ---------------------------------------------------------------

    def enable_debug(self) -> PulseDebugger:
        """Start recording every PULSE module's calls (returns the debugger)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self not in _ENABLED:
            _ENABLED.append(self)
        if self.verbose:
            print(f"{type(self).__name__}: recording state norms, routing entropy and gate values to {self.log_dir}/")
        return self

    def disable_debug(self) -> None:
        """Stop recording; the files written stay."""
        if self in _ENABLED:
            _ENABLED.remove(self)
        if self.verbose:
            layers = ", ".join(sorted(self.records)) or "none"
            print(f"{type(self).__name__}: stopped; layers recorded: {layers}")

    @property
    def enabled(self) -> bool:
        return self in _ENABLED

    def __enter__(self) -> PulseDebugger:
        return self.enable_debug()

    def __exit__(self, *exc: object) -> None:
        self.disable_debug()

    def watch(self, model: nn.Module, prefix: str = "") -> PulseDebugger:
        """Name the layers of ``model`` by their path in it (``layers.0.propagator``) in the files."""
        for path, module in model.named_modules():
            name = ".".join(part for part in (prefix, path) if part) or type(module).__name__
            self._names[module] = name
        return self

    # ---- recording ----------------------------------------------------------------------------

    def layer_name(self, module: nn.Module) -> str:
        """The name ``module``'s records are filed under."""
        name = self._names.get(module)
        if name is None:
            kind = type(module).__name__
            index = self._counts.get(kind, 0)
            self._counts[kind] = index + 1
            name = self._names[module] = f"{kind}_{index}"
        return name

    def record(self, module: nn.Module, tensors: dict[str, Any]) -> dict[str, Any]:
        """Summarise one call of ``module`` and append it to the layer's file; returns the record."""
        name = self.layer_name(module)
        history = self.records.setdefault(name, [])
        entry: dict[str, Any] = {"call": len(history)}
        with torch.no_grad():
            states = tensors.get("states")
            if states is not None:
                norms = states.detach().float().norm(dim=-1)
                entry.update(
                    state_norm=norms.mean().item(), state_norm_min=norms.min().item(), state_norm_max=norms.max().item()
                )
            routing = tensors.get("routing")
            if routing is not None:
                weights = routing.detach().float()
                entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)
                entry.update(routing_entropy=entropy.mean().item(), routing_entropy_max=math.log(weights.shape[-1]))
            for gate, values in (tensors.get("gates") or {}).items():
                entry[f"gate_{gate}"] = values.detach().float().mean().item()
        history.append(entry)
        path = self.folder / f"{name}.jsonl"
        if not history[:-1] and self.verbose:
            print(f"{type(self).__name__}: {name} -> {self.log_dir / path.name}")
        self.folder.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.write(json.dumps(entry) + "\n")
        return entry
