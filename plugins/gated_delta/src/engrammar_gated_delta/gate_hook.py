"""``GateActivationHook``: the seam gates (and parity energies) of a model's gated units, collected
from its forward through engrammar's recorder, for plots of your own.

The units report what they gate through the explicit trace channel (``gated_delta_rnn``: ``gate``;
``z2_seam``: ``gate`` and ``parity_energy``, each (B, T)); the hook opens a recording with traces
around the calls it watches and keeps what came back. Nothing is read from or written to a module.

Two ways to use it::

    with GateActivationHook(model) as hook:        # every call inside, appended along time
        model(x)
    hook.gate_activations                          # {"nodes.rnn": (B, T)}, "model" for the model itself
    hook.parity_energies                           # z2_seam units only

    hook = GateActivationHook()                    # the seed's form: one forward call at a time
    hook.register(model)
    model(x)
    hook.get_activations()                         # {"gate": (B, T), "parity_energy": (B, T)}
    hook.remove()
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from engrammar.recorder import Recording, recording
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["GateActivationHook"]


class GateActivationHook:
    """Collects ``gate`` (and ``parity_energy``) traces of every gated unit inside a model."""

    def __init__(self, model: nn.Module | None = None) -> None:
        self.model = model
        self.gate_activations: dict[str, Tensor] = {}
        self.parity_energies: dict[str, Tensor] = {}
        self._record: Recording | None = None
        self._handles: list[RemovableHandle] = []

    # ---- a block of calls --------------------------------------------------------------------

    def __enter__(self) -> GateActivationHook:
        if self.model is None:
            raise ValueError("GateActivationHook: give the model to watch, GateActivationHook(model)")
        self.clear()
        self._open(self.model)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._close()

    # ---- the seed's form: a hook around each forward call ------------------------------------

    def register(self, model: nn.Module) -> GateActivationHook:
        """Watch every forward call of ``model`` (each call replaces what the previous one left)."""
        self.model = model
        self._handles.append(model.register_forward_pre_hook(self._before))
        self._handles.append(model.register_forward_hook(self._after, always_call=True))
        return self

    def remove(self) -> None:
        """Stop watching (what was collected stays)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def clear(self) -> None:
        """Forget what was collected."""
        self.gate_activations, self.parity_energies = {}, {}

    def get_activations(self) -> dict[str, Tensor]:
        """``{"gate": (B, T), "parity_energy": (B, T)}`` for a model with one gated unit (as the
        seed's hook returned them); with several, the keys are ``"<unit>.gate"`` and
        ``"<unit>.parity_energy"``."""
        single = len(self.gate_activations) == 1
        out: dict[str, Tensor] = {}
        for kind, found in (("gate", self.gate_activations), ("parity_energy", self.parity_energies)):
            for name, values in found.items():
                out[kind if single else f"{name}.{kind}"] = values
        return out

    # ---- internals ---------------------------------------------------------------------------

    def _before(self, module: nn.Module, args: Any) -> None:
        self.clear()
        self._open(module)

    def _after(self, module: nn.Module, args: Any, output: Any) -> None:
        self._close()

    def _open(self, model: nn.Module) -> None:
        if self._record is not None:
            raise RuntimeError("GateActivationHook: already collecting (one block or call at a time)")
        self._record = recording(model, traces=True)
        self._record.__enter__()

    def _close(self) -> None:
        if self._record is None:
            return
        record, self._record = self._record, None
        record.__exit__(None, None, None)
        for name, trace in record.traces.items():
            key = name or "model"
            if "gate" in trace:
                self.gate_activations[key] = trace["gate"].cpu()
            if "parity_energy" in trace:
                self.parity_energies[key] = trace["parity_energy"].cpu()
