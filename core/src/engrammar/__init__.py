"""engrammar: stateful sequence components — one state protocol, a registry, a wiring language.

Attributes are loaded lazily so that ``engrammar list`` and ``import engrammar`` stay fast and
do not import torch until a component is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # registry
    "components": "engrammar.registry",
    "build": "engrammar.registry",
    "register": "engrammar.registry",
    "unregister": "engrammar.registry",
    "ComponentInfo": "engrammar.registry",
    "RegistryError": "engrammar.registry",
    # specs
    "field": "engrammar.spec",
    "ComponentSpec": "engrammar.spec",
    "SpecError": "engrammar.spec",
    "structure": "engrammar.spec",
    "unstructure": "engrammar.spec",
    # protocol
    "Component": "engrammar.component",
    "Stateful": "engrammar.component",
    "StateEntry": "engrammar.state",
    "detach_state": "engrammar.state",
    "clone_state": "engrammar.state",
    "map_state": "engrammar.state",
    "select_batch": "engrammar.state",
    "scatter_batch": "engrammar.state",
    "reset_where": "engrammar.state",
    "state_nbytes": "engrammar.state",
    "state_shapes": "engrammar.state",
    "flatten_state": "engrammar.state",
    "unflatten_state": "engrammar.state",
    "declared_nbytes": "engrammar.state",
    "grow_like": "engrammar.state",
    "trim_state": "engrammar.state",
    # auxiliary losses, metrics and traces
    "recording": "engrammar.recorder",
    "Recording": "engrammar.recorder",
    "Pooled": "engrammar.recorder",
    "report_loss": "engrammar.recorder",
    "report_metric": "engrammar.recorder",
    "report_trace": "engrammar.recorder",
    "is_recording": "engrammar.recorder",
    "is_tracing": "engrammar.recorder",
    # routers
    "Router": "engrammar.router",
    "RouterSpec": "engrammar.router",
    "report_routing": "engrammar.router",
    # tasks and training hooks
    "Task": "engrammar.task",
    "TaskSpec": "engrammar.task",
    "TaskBatch": "engrammar.task",
    "hookimpl": "engrammar.hooks",
    "make_plugin_manager": "engrammar.hooks",
    # run-time checks
    "typecheck": "engrammar.typechecking",
    "typecheck_enabled": "engrammar.typechecking",
    "TypecheckError": "engrammar.typechecking",
    # wiring
    "Wiring": "engrammar.wiring",
    "build_wiring": "engrammar.wiring",
}

__all__ = ["__version__", *sorted(_LAZY)]


#: Names that other distributions provide: asking core for one says which to install.
_ELSEWHERE = {"train": ("engrammar-train", "from engrammar_train import train")}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if name in _ELSEWHERE:
        dist, statement = _ELSEWHERE[name]
        raise AttributeError(f"engrammar.{name} is provided by {dist}: pip install {dist}, then `{statement}`")
    if module is None:
        raise AttributeError(f"module 'engrammar' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from .component import Component, Stateful
    from .hooks import hookimpl, make_plugin_manager
    from .recorder import (
        Pooled,
        Recording,
        is_recording,
        is_tracing,
        recording,
        report_loss,
        report_metric,
        report_trace,
    )
    from .registry import ComponentInfo, RegistryError, build, components, register, unregister
    from .router import Router, RouterSpec, report_routing
    from .spec import ComponentSpec, SpecError, field, structure, unstructure
    from .state import (
        StateEntry,
        clone_state,
        declared_nbytes,
        detach_state,
        flatten_state,
        grow_like,
        map_state,
        reset_where,
        scatter_batch,
        select_batch,
        state_nbytes,
        state_shapes,
        trim_state,
        unflatten_state,
    )
    from .task import Task, TaskBatch, TaskSpec
    from .typechecking import TypecheckError, typecheck, typecheck_enabled
    from .wiring import Wiring, build_wiring
