"""Fitting a model to a task: the task sets the input width, and a linear read-out to the task's
output width is added unless the model already ends at that width — so one wiring trains on any
task.

The read-out is a wiring node: a wiring gets a ``linear`` node named ``readout`` after its output,
and a component given by name becomes a one-node wiring with the read-out after it. The model's
spec as plain data (a wiring's file form, or ``{"use": name, **fields}``) is its *recipe*, saved
in every checkpoint; :func:`rebuild_model` is ``engrammar.build`` on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from engrammar.component import Component
from engrammar.spec import SpecError, unstructure
from engrammar.task import Task

__all__ = ["ModelSource", "build_for_task", "build_task", "rebuild_model", "task_name"]

#: What ``train`` accepts as a model: a wiring file, a registry name, a spec mapping or a component.
ModelSource = str | Path | Mapping[str, Any] | Component


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
    ``hidden_size=32`` for a component built by name). Returns the model and its spec as plain data
    (what :func:`rebuild_model` takes). When a read-out is needed the model is a wiring: the source's
    nodes (or the named component as one node) and a ``linear`` node named ``readout`` after them.
    """
    import engrammar

    assignments = _assignments(overrides)
    if isinstance(source, Component):
        if assignments:
            raise SpecError("overrides", "overrides need a wiring file or a component name, not a built component")
        if (source.in_features, source.out_features) != (task.in_features, task.out_features):
            raise SpecError(
                "model",
                f"the built component maps {source.in_features} -> {source.out_features} features, the task "
                f"needs {task.in_features} -> {task.out_features}; pass a wiring or a name to get a read-out added",
            )
        return source, _component_data(source)
    if _is_wiring(source):
        from engrammar.wiring.loader import apply_overrides, load_data

        wiring = apply_overrides(load_data(cast("str | Path", source)), assignments)
    else:
        data: dict[str, Any] = {"use": source} if isinstance(source, str) else dict(cast("Mapping[str, Any]", source))
        if "nodes" in data:
            from engrammar.wiring.loader import apply_overrides

            wiring = apply_overrides(data, assignments)
        else:
            dotted = [key for key in assignments if "." in key]
            if dotted:
                raise SpecError(dotted[0], "a component built by name takes plain field names (hidden_size=32)")
            data.update(assignments)
            data["in_features"] = task.in_features
            body = engrammar.build(data)
            if body.out_features == task.out_features:
                return body, {"use": data["use"], **unstructure(body.spec)}
            name = str(data.pop("use"))
            data.pop("in_features")
            node = name if name.isidentifier() and name != "readout" else "body"
            wiring = {"name": name, "nodes": {node: {"use": name, "in": "x", **data}}, "out": node}
    wiring["in_features"] = task.in_features
    model = engrammar.build(wiring)
    if model.out_features != task.out_features:
        if "readout" in wiring["nodes"]:
            raise SpecError("nodes.readout", "a read-out to the task's width is added under this name; rename the node")
        wiring["nodes"]["readout"] = {"use": "linear", "out_features": task.out_features, "in": wiring["out"]}
        wiring["out"] = "readout"
        model = engrammar.build(wiring)
    return model, unstructure(model.spec)


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


def rebuild_model(recipe: Mapping[str, Any] | None) -> Component:
    """The model a recipe (the spec data :func:`build_for_task` returns) describes, with fresh
    parameters: load a checkpoint's weights into it."""
    import engrammar

    if recipe is None:  # a Trainer made without ``recipe=`` saves none
        raise SpecError("model", "the checkpoint has no model spec (its Trainer was given no recipe)")
    data = dict(recipe)
    if "nodes" not in data and data.get("use") is None:
        raise SpecError("model", "the checkpoint's model was not built from a registry name or a wiring")
    return engrammar.build(data)
