"""Model configs: engrammar specs written as Hydra configs, checked against the components' specs.

A model config is a component by registry name (``use: lstm`` and its spec fields) or a wiring
(``nodes:``, ``out:``; a wiring file is ``extends: path/to/wiring.yaml`` with changes beside it).
``_target_: engrammar_hydra.build_component`` makes ``hydra.utils.instantiate(cfg.model,
in_features=4)`` build it; the application reads the same config as data. A wiring node may start
from a reusable node config, ``extends: lstm_small.yaml``, looked up in the ``node_dirs`` given and
then in the shipped ``conf/nodes`` folder, and merged by core's one ``extends`` resolver.

:func:`check_model` builds the config with the task's input width and names the first problem by
its path under ``model`` (``model.hiden_size: unknown field; did you mean 'hidden_size'?``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import engrammar
from engrammar.spec import SpecError
from engrammar.wiring.loader import resolve_extends

__all__ = ["NODES_DIR", "build_component", "check_model", "model_data"]

#: keys of a model config that are Hydra's, not the spec's
_HYDRA_KEYS = ("_target_", "_recursive_", "_convert_", "_partial_")


def _shipped_nodes() -> Path:
    return Path(str(resources.files("engrammar_hydra") / "conf" / "nodes"))


#: the shipped folder of reusable node configs
NODES_DIR = _shipped_nodes()


def _node_file(name: str, node_dirs: Iterable[str | Path], path: str) -> Path:
    folders = [*(Path(d) for d in node_dirs), NODES_DIR]
    for folder in folders:
        if (folder / name).is_file():
            return folder
    looked = ", ".join(str(f) for f in folders)
    raise SpecError(f"{path}.extends", f"no node config {name!r} (looked in {looked})")


def model_data(config: Mapping[str, Any], node_dirs: Iterable[str | Path] = ()) -> dict[str, Any]:
    """The plain spec data of a model config: Hydra's keys dropped, a wiring's ``extends:`` (paths
    relative to the working directory) and its nodes' ``extends:`` (node config folders) resolved."""
    data = {str(k): v for k, v in dict(config).items() if k not in _HYDRA_KEYS}
    if "extends" in data:
        data = resolve_extends(data, Path.cwd(), origin="model")
    nodes = data.get("nodes")
    if isinstance(nodes, Mapping):
        resolved: dict[str, Any] = {}
        for name, node in nodes.items():
            node = dict(node) if isinstance(node, Mapping) else node
            if isinstance(node, dict) and isinstance(node.get("extends"), str):
                where = f"model.nodes.{name}"
                folder = _node_file(node["extends"], node_dirs, where)
                node = resolve_extends(node, folder, origin=where)
            resolved[str(name)] = node
        data["nodes"] = resolved
    return data


def check_model(data: Mapping[str, Any], in_features: int) -> None:
    """Build the model once with ``in_features`` inputs; a bad config is a :class:`SpecError`
    naming its path under ``model``."""
    data = dict(data)
    try:
        engrammar.build({**data, "in_features": in_features})
    except SpecError as err:
        if "nodes" in data:
            raise err.under("model") from None
        raise err.rerooted(str(data.get("use")), "model") from None


def build_component(use: str | None = None, **fields: Any) -> Any:
    """``engrammar.build`` for ``hydra.utils.instantiate``: ``use`` (a registry name or wiring
    file) and spec fields, or a wiring's ``name``/``nodes``/``out`` (nodes may ``extends:``)."""
    from omegaconf import OmegaConf

    plain = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v for k, v in fields.items()}
    data = model_data({**plain, **({"use": use} if use is not None else {})})
    if "use" not in data and "nodes" not in data:
        raise SpecError("model.use", "missing: name the component (use: <name>) or give a wiring (nodes: ...)")
    return engrammar.build(data)
