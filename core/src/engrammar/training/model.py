"""Fitting a model to a task: the task sets the input width, and a linear read-out to the task's
output width is added unless the model already ends at that width — so one wiring trains on any
task.

The model is described by a *recipe*, plain data saved in every checkpoint::

    {"body": <the body's spec as data: a wiring's file form, or {"use": name, **fields}>,
     "readout": <task.out_features, or None when no read-out was needed>}

and :func:`rebuild_model` turns a recipe back into the same model with ``engrammar.build``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from engrammar.component import Component
from engrammar.spec import ComponentSpec, SpecError, field, ge, spec, unstructure
from engrammar.state import State
from engrammar.task import Task

__all__ = ["ModelSource", "WithReadout", "build_for_task", "build_task", "rebuild_model", "task_name"]

#: What ``train`` accepts as a model: a wiring file, a registry name, a spec mapping or a component.
ModelSource = str | Path | Mapping[str, Any] | Component


@spec
class ReadoutSpec(ComponentSpec):
    out_features: int = field(default=1, validator=ge(1), doc="width of the linear read-out")


class WithReadout(Component):
    """A component followed by a linear read-out (per time step) to ``out_features``."""

    spec_cls = ReadoutSpec
    spec: ReadoutSpec

    def __init__(self, body: Component, out_features: int) -> None:
        super().__init__({"in_features": body.in_features, "out_features": out_features})
        self.body = body
        self.readout = nn.Linear(body.out_features, out_features)

    @property
    def out_features(self) -> int:
        return self.spec.out_features

    def state_spec(self) -> dict[str, Any]:
        return self.body.state_spec()

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        return self.body.init_state(batch_size, device=device, dtype=dtype)

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = self.body(x, state)
        return self.readout(y), state

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        y, state = self.body(x, state, resets)
        return self.readout(y), state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y_t, state = self.body.step(x_t, state)
        return self.readout(y_t), state

    def step(self, x_t: Tensor, state: State | None = None, reset: Tensor | None = None) -> tuple[Tensor, State]:
        y_t, state = self.body.step(x_t, state, reset)  # the body applies resets its own way
        return self.readout(y_t), state


def task_name(task: Task) -> str | None:
    """The registry name of a task object's class, when it has one."""
    from engrammar.registry import components, load

    for info in components("tasks"):
        try:
            if load(info) is type(task):
                return info.name
        except Exception:  # a broken plugin elsewhere does not matter here
            continue
    return None


def build_task(
    task: str | Mapping[str, Any] | Task, overrides: Mapping[str, Any] | None = None
) -> tuple[Task, dict[str, Any]]:
    """A task object and its description as data (``{"use": name, **fields}``)."""
    import engrammar

    overrides = dict(overrides or {})
    if isinstance(task, Task):
        if overrides:
            task = type(task)({**unstructure(task.spec), **overrides})
        name = task_name(task)
    else:
        data = {"use": task} if isinstance(task, str) else dict(task)
        name = data.get("use")
        task = engrammar.build({**data, **overrides})
        if not isinstance(task, Task):
            raise SpecError(str(name), f"is a {type(task).__name__}, not a task (see `engrammar list tasks`)")
    return task, {"use": name, **unstructure(task.spec)}


def _assignments(overrides: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    from engrammar.wiring.loader import parse_assignment

    if isinstance(overrides, Mapping):
        return dict(overrides)
    return dict(parse_assignment(item) for item in overrides)


def _is_wiring(source: Any) -> bool:
    from engrammar.wiring.loader import is_wiring_path

    return isinstance(source, Path) or (isinstance(source, str) and is_wiring_path(source))


def build_for_task(
    source: ModelSource, task: Task, overrides: Mapping[str, Any] | Iterable[str] = ()
) -> tuple[Component, dict[str, Any]]:
    """Build ``source`` with the task's input width and, when needed, a read-out to its output width.

    ``overrides``: dotted ``key=value`` settings (``nodes.ctrl.hidden_size=32`` for a wiring,
    ``hidden_size=32`` for a component built by name). Returns the model and its recipe.
    """
    import engrammar

    assignments = _assignments(overrides)
    if isinstance(source, Component):
        if assignments:
            raise SpecError("--set", "overrides need a wiring file or a component name, not a built component")
        body = source
        if body.in_features != task.in_features:
            raise SpecError(
                "in_features", f"the model reads {body.in_features} features but the task gives {task.in_features}"
            )
        body_data = _component_data(body)
    elif _is_wiring(source):
        from engrammar.wiring.loader import apply_overrides, load_data

        data = apply_overrides(load_data(cast("str | Path", source)), assignments)
        data["in_features"] = task.in_features
        body = engrammar.build(data)
        body_data = unstructure(body.spec)
    else:
        data = {"use": source} if isinstance(source, str) else dict(cast("Mapping[str, Any]", source))
        if "nodes" in data:
            from engrammar.wiring.loader import apply_overrides

            data = apply_overrides(data, assignments)
        else:
            dotted = [key for key in assignments if "." in key]
            if dotted:
                raise SpecError(dotted[0], "a component built by name takes plain field names (hidden_size=32)")
            data.update(assignments)
        data["in_features"] = task.in_features
        body = engrammar.build(data)
        body_data = unstructure(body.spec) if "nodes" in data else {"use": data["use"], **unstructure(body.spec)}
    recipe: dict[str, Any] = {"body": body_data, "readout": None}
    if body.out_features == task.out_features:
        return body, recipe
    recipe["readout"] = task.out_features
    return WithReadout(body, task.out_features), recipe


def _component_data(component: Component) -> dict[str, Any]:
    from engrammar.registry import components, load

    data = unstructure(component.spec)
    if "nodes" in data:
        return data
    for info in components():
        if info.kind == "tasks":
            continue
        try:
            if load(info) is type(component):
                return {"use": info.name, **data}
        except Exception:
            continue
    return {"use": None, **data}


def rebuild_model(recipe: Mapping[str, Any]) -> Component:
    """The model a recipe describes (fresh parameters: load the checkpoint's weights into it)."""
    import engrammar

    body_data = dict(recipe["body"])
    if body_data.get("use", "") is None:
        raise SpecError("model", "the checkpoint's model was not built from a registry name or a wiring")
    body = engrammar.build(body_data)
    readout = recipe.get("readout")
    return body if readout is None else WithReadout(body, int(readout))
