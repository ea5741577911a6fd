"""One channel for what a component produces besides its output and state: auxiliary losses,
metrics and traces.

A loop opens a recording around the calls it wants to observe; components report into it::

    with engrammar.recording(model) as record:            # names every submodule of model
        y, state = model(x)
    loss = task_loss + sum(record.losses.values())         # {"nodes.mix.load_balance": scalar}
    record.metrics                                         # {"nodes.mem.inner_loss": tensor or float}

    with engrammar.recording(model, traces=True) as record:
        model(x)
    record.traces      # {"nodes.mem": {"read_weights": (B, T, R, N), ..., "link": (B, H, N, N)}}

and, inside a component's ``forward`` / ``step`` / ``_step``::

    report_loss(self, "load_balance", loss)                # a scalar tensor, already weighted
    report_metric(self, "inner_loss", value)
    if is_tracing(self):                                   # skip building what nobody records
        report_trace(self, {"read_weights": weights})      # one step: each tensor (B, ...)

Rules:

- Names are qualified module paths, as in ``model.named_modules()`` and the parameter names:
  ``nodes.mix.load_balance`` for the ``load_balance`` loss of node ``mix``; a graph nested in a graph
  gives ``nodes.block.nodes.mix.load_balance``. The model a recording was opened on is named ``""``
  (its own reports are keyed ``load_balance``, its trace ``""``). The names are taken when the
  recording opens; a module added later, or one outside the model (a DataParallel replica, say),
  reports nothing to it.
- A report goes to every open recording of the current context whose model contains the module:
  nested recordings each see it, under names relative to their own model. With none open, a report
  costs one context-variable lookup and keeps nothing.
- Context-local (:mod:`contextvars`): a recording opened in one thread sees nothing another thread
  runs, so two threads can each record their own model, or the same one.
- Several reports under one name in one recording add up (losses and metrics): what a component
  reports per call sums over the calls of the recording. A :class:`Pooled` value instead adds up
  its ``sums`` and applies ``finish`` when read, for quantities that are not sums of per-call parts
  (a load-balancing loss over every token of the recording, a mean).
- Losses stay differentiable; metrics and traces are detached. Traces are kept only by recordings
  opened with ``traces=True`` (a trace costs memory and may disable a fused path).

Nothing is ever written on a module: the module holds parameters and buffers only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

import attrs
from torch import Tensor, nn

from .nn.trace import Trace

__all__ = [
    "Pooled",
    "Recording",
    "is_recording",
    "is_tracing",
    "recording",
    "report_loss",
    "report_metric",
    "report_trace",
]

Value = Tensor | float


@attrs.frozen
class Pooled:
    """A value computed from sums pooled over every report under one name in one recording.

    ``sums`` (tensors or numbers) add up elementwise across the reports; reading the recording gives
    ``finish(*sums)``, computed from the first report's ``finish``. Every report under one name
    must pool the same quantity (same number of sums, same ``finish``).
    """

    sums: tuple[Value, ...]
    finish: Callable[..., Value]

    @classmethod
    def mean(cls, value: Value, weight: Value = 1.0) -> Pooled:
        """The ``weight``-weighted mean of the values reported under one name."""
        return cls((value * weight, weight), _ratio)


def _ratio(total: Value, weight: Value) -> Value:
    return total / weight


_OPEN: ContextVar[tuple[Recording, ...]] = ContextVar("engrammar_open_recordings", default=())


class Recording:
    """What the modules of ``model`` reported while this recording was open (see the module doc).

    Open it with ``with`` (once); read ``losses``, ``metrics`` and ``traces`` inside the block or after.
    """

    def __init__(self, model: nn.Module, *, traces: bool = False) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"recording needs the torch.nn.Module to record, got {type(model).__name__}")
        self.model = model
        self.keeps_traces = traces
        self._modules: dict[str, nn.Module] = dict(model.named_modules())
        self._names: dict[int, str] = {id(module): name for name, module in self._modules.items()}
        self._losses: dict[str, Tensor | Pooled] = {}
        self._metrics: dict[str, Value | Pooled] = {}
        self._traces: dict[str, Trace] = {}
        self._lock = threading.Lock()  # a context copied into several threads may report at once
        self._token: Token[tuple[Recording, ...]] | None = None
        self._opened = False

    # ---- opening and closing ----------------------------------------------------------------

    def __enter__(self) -> Recording:
        if self._opened:
            raise RuntimeError("a Recording is opened once; open a new one with engrammar.recording(model)")
        self._opened = True
        self._token = _OPEN.set((*_OPEN.get(), self))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._token is not None
        _OPEN.reset(self._token)
        self._token = None

    @property
    def is_open(self) -> bool:
        return self._token is not None

    # ---- what loops read ----------------------------------------------------------------------

    @property
    def losses(self) -> dict[str, Tensor]:
        """``{"<module path>.<name>": scalar tensor}``: weighted, differentiable, ready to add to a loss."""
        out = {}
        for key, value in self._losses.items():
            loss = _finished(value)
            if not isinstance(loss, Tensor) or loss.dim() != 0:
                raise ValueError(f"loss {key!r}: a loss is a scalar tensor, got {_describe(loss)}")
            out[key] = loss
        return out

    @property
    def metrics(self) -> dict[str, Value]:
        """``{"<module path>.<name>": detached tensor or float}``."""
        return {key: _finished(value) for key, value in self._metrics.items()}

    @property
    def traces(self) -> dict[str, dict[str, Tensor]]:
        """``{"<module path>": {name: (B, T, ...) tensor, final name: tensor}}`` (``traces=True`` only)."""
        return {name: trace.stacked() for name, trace in self._traces.items()}

    def trace(self, module: nn.Module) -> dict[str, Tensor]:
        """The stacked trace ``module`` reported (see :attr:`traces`)."""
        name = self.name_of(module)
        if name not in self._traces:
            hint = "" if self.keeps_traces else " (open the recording with traces=True)"
            raise KeyError(f"{type(module).__name__} at {name or '<model>'!r} reported no trace{hint}")
        return self._traces[name].stacked()

    def name_of(self, module: nn.Module) -> str:
        """The qualified path of ``module`` in the recorded model (``""`` for the model itself)."""
        name = self._names.get(id(module))
        if name is None:
            raise KeyError(f"{type(module).__name__} is not a module of the recorded model")
        return name

    def module(self, name: str) -> nn.Module:
        """The module at qualified path ``name`` (as in :attr:`traces` keys)."""
        if name not in self._modules:
            raise KeyError(f"no module at {name!r} in the recorded model")
        return self._modules[name]

    # ---- what reports do ----------------------------------------------------------------------

    def _key(self, module: nn.Module, name: str) -> str | None:
        path = self._names.get(id(module))
        if path is None:
            return None
        return f"{path}.{name}" if path else name

    def _add(self, into: dict[str, Any], key: str, value: Any) -> None:
        with self._lock:
            before = into.get(key)
            into[key] = value if before is None else _combined(key, before, value)

    def _add_trace(
        self, module: nn.Module, values: Mapping[str, Tensor], final: Mapping[str, Tensor] | None, sequence: bool
    ) -> None:
        path = self._names.get(id(module))
        if path is None or not self.keeps_traces:
            return
        with self._lock:
            trace = self._traces.get(path)
            if trace is None:
                trace = self._traces[path] = Trace()
            if sequence:
                trace.record_sequence(values, final)
            else:
                trace.record(values, final)


def recording(model: nn.Module, *, traces: bool = False) -> Recording:
    """A recording of what the modules of ``model`` report; use it as ``with recording(model) as record:``.

    ``traces=True`` also keeps the traces components report (for plots); without it components
    skip tracing (see :func:`is_tracing`).
    """
    return Recording(model, traces=traces)


# ---- the component side -----------------------------------------------------------------------


def report_loss(module: nn.Module, name: str, value: Tensor | Pooled) -> None:
    """Report an auxiliary loss of ``module``: a scalar tensor, already weighted, differentiable
    (or a :class:`Pooled` one). Kept by every open recording whose model contains ``module``."""
    open_recordings = _OPEN.get()
    if not open_recordings:
        return
    if not isinstance(value, Pooled) and not (isinstance(value, Tensor) and value.dim() == 0):
        raise ValueError(
            f"report_loss({type(module).__name__}, {name!r}): expected a scalar tensor, got {_describe(value)}"
        )
    for record in open_recordings:
        key = record._key(module, name)
        if key is not None:
            record._add(record._losses, key, value)


def report_metric(module: nn.Module, name: str, value: Value | Pooled) -> None:
    """Report a metric of ``module`` (a tensor, kept detached, or a number; or a :class:`Pooled` one)."""
    open_recordings = _OPEN.get()
    if not open_recordings:
        return
    if isinstance(value, Tensor):
        value = value.detach()
    elif isinstance(value, Pooled):
        value = Pooled(tuple(s.detach() if isinstance(s, Tensor) else s for s in value.sums), value.finish)
    for record in open_recordings:
        key = record._key(module, name)
        if key is not None:
            record._add(record._metrics, key, value)


def report_trace(
    module: nn.Module,
    values: Mapping[str, Tensor],
    *,
    final: Mapping[str, Tensor] | None = None,
    sequence: bool = False,
) -> None:
    """Report what ``module`` did at one step: ``values`` each (B, ...), appended along time (or,
    with ``sequence=True``, several steps at once: each (B, t, ...)). ``final`` tensors are kept for
    the latest report only. Kept, detached, by open recordings made with ``traces=True``."""
    open_recordings = _OPEN.get()
    if not open_recordings:
        return
    for record in open_recordings:
        record._add_trace(module, values, final, sequence)


def is_recording(module: nn.Module) -> bool:
    """Whether an open recording would keep a loss or metric reported by ``module`` now."""
    open_recordings = _OPEN.get()
    return bool(open_recordings) and any(id(module) in record._names for record in open_recordings)


def is_tracing(module: nn.Module) -> bool:
    """Whether an open recording would keep a trace reported by ``module`` now. A component checks
    it before building what it would trace, and may take a fused path when it is false."""
    open_recordings = _OPEN.get()
    return bool(open_recordings) and any(
        record.keeps_traces and id(module) in record._names for record in open_recordings
    )


# ---- combining reports ------------------------------------------------------------------------


def _combined(key: str, before: Any, value: Any) -> Any:
    if isinstance(before, Pooled) and isinstance(value, Pooled):
        if len(before.sums) != len(value.sums):
            raise ValueError(f"{key!r}: pooled reports with {len(before.sums)} and {len(value.sums)} sums")
        return Pooled(tuple(a + b for a, b in zip(before.sums, value.sums)), before.finish)
    if isinstance(before, Pooled) or isinstance(value, Pooled):
        raise ValueError(f"{key!r}: reported both as a Pooled value and as a plain one")
    return before + value


def _finished(value: Any) -> Any:
    return value.finish(*value.sums) if isinstance(value, Pooled) else value


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
