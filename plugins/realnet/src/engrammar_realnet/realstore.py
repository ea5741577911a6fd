"""Checkpoints of RealNet models (``realnet.utils.realstore``): save, load (strictly or what fits),
transplant between sizes, and read the metadata without building a model.

A checkpoint is one safetensors file: the model's tensors under ``model.<name>``, the optimizer's
tensors under ``optimizer.<index>.<key>``, and everything else (epoch, loss, the model's
constructor arguments, the optimizer's settings, ``extra_data``) as JSON in the file's metadata.
Loading never unpickles code. The format is recognised by content, not by the file name, so
``model.pth`` written by :func:`save_checkpoint` is a safetensors file too. A PyTorch file written
elsewhere (``torch.save``) is read with ``torch.load(weights_only=True)``: tensors and plain
containers only; a file that holds any other object is refused.

Transplantation (:func:`transplant_weights`) copies each tensor into the model's tensor of the same
name along every dimension: where the model is larger the checkpoint's entries fill the leading
block (a 256-neuron checkpoint fills ``weight[:256, :256]`` of a 512-neuron model; the rest keeps
its initialisation); where it is smaller the central block of the checkpoint is kept
(``weight[384:640, 384:640]`` of a 1024-neuron checkpoint for a 256-neuron model).
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from engrammar.spec import SpecError
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

__all__ = [
    "FORMAT",
    "get_checkpoint_info",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "transplant_tensor",
    "transplant_weights",
]

#: the ``format`` entry of a checkpoint's metadata
FORMAT = "realnet-checkpoint/1"
_MODEL, _OPTIMIZER = "model.", "optimizer."


def _jsonable(value: Any, path: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise SpecError(path, f"must be plain data (numbers, strings, lists, dicts) to be saved: {error}") from None


def _model_config(model: nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    return config() if callable(config) else None


def save_checkpoint(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    epoch: int,
    loss: float,
    path: str | os.PathLike[str],
    extra_data: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint of ``model`` (and ``optimizer``, which may be None) to ``path``,
    atomically (a crash leaves the previous file whole). ``extra_data``: plain data kept beside."""
    tensors: dict[str, Tensor] = {f"{_MODEL}{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optimizer_meta = None
    if optimizer is not None:
        saved = optimizer.state_dict()
        plain_state: dict[str, dict[str, Any]] = {}
        for index, entries in saved["state"].items():
            plain_state[str(index)] = {}
            for key, value in entries.items():
                if isinstance(value, Tensor):
                    tensors[f"{_OPTIMIZER}{index}.{key}"] = value.detach().cpu().contiguous()
                else:
                    plain_state[str(index)][key] = value
        optimizer_meta = {"param_groups": saved["param_groups"], "state": plain_state}
    metadata = {
        "format": FORMAT,
        "epoch": int(epoch),
        "loss": float(loss),
        "num_neurons": getattr(model, "num_neurons", None),
        "config": _model_config(model),
        "optimizer": optimizer_meta,
        "extra_data": dict(extra_data) if extra_data is not None else None,
    }
    header = {"realnet": json.dumps(_jsonable(metadata, "extra_data"))}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=header)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return target


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as file:
        head = file.read(9)
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return 0 < size < (1 << 32) and head[8:9] == b"{"


def _torch_file(path: Path, device: str | torch.device) -> dict[str, Any]:
    """A ``torch.save`` file read with ``weights_only=True``, in the layout of a safetensors
    checkpoint (model tensors, metadata)."""
    try:
        loaded = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SpecError(
            str(path), f"refused: the file holds objects other than tensors and plain data ({first})"
        ) from None
    if not isinstance(loaded, Mapping):
        raise SpecError(str(path), f"holds a {type(loaded).__name__}, not a checkpoint or a state dict")
    if "model_state_dict" in loaded or "model" in loaded:
        model_state = loaded.get("model_state_dict", loaded.get("model"))
        info = {k: v for k, v in loaded.items() if k not in ("model_state_dict", "model", "optimizer_state_dict")}
        optimizer_state = loaded.get("optimizer_state_dict")
    else:
        model_state, info, optimizer_state = loaded, {}, None
    if not isinstance(model_state, Mapping) or not all(isinstance(v, Tensor) for v in model_state.values()):
        raise SpecError(str(path), "holds no state dict of tensors")
    weight = model_state.get("weight")
    metadata = {
        "format": "torch",
        "epoch": info.get("epoch"),
        "loss": float(info["loss"]) if isinstance(info.get("loss"), int | float | Tensor) else None,
        "num_neurons": int(weight.shape[0]) if isinstance(weight, Tensor) and weight.dim() == 2 else None,
        "config": None,
        "extra_data": info.get("extra_data"),
    }
    return {"model": dict(model_state), "optimizer_state_dict": optimizer_state, "metadata": metadata}


def read_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint at ``path`` as ``{"model": state dict, "optimizer_state_dict": ... or None,
    "metadata": {...}}``, from a safetensors checkpoint or a weights-only PyTorch file."""
    source = Path(path)
    if not source.is_file():
        raise SpecError(str(path), "no such checkpoint file")
    if not _is_safetensors(source):
        return _torch_file(source, device)
    with safe_open(str(source), framework="pt") as file:
        header = file.metadata() or {}
    metadata = json.loads(header["realnet"]) if "realnet" in header else {"format": "safetensors"}
    tensors = load_file(str(source), device=str(device))
    model_state = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    if "realnet" not in header:  # a bare safetensors state dict
        model_state = dict(tensors)
    optimizer_state = None
    saved_optimizer = metadata.get("optimizer")
    if saved_optimizer is not None:
        state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in saved_optimizer["state"].items()}
        for name, value in tensors.items():
            if name.startswith(_OPTIMIZER):
                index, key = name[len(_OPTIMIZER) :].split(".", 1)
                state.setdefault(int(index), {})[key] = value
        # JSON has no tuples: a group's options (betas) come back as the tuples torch wrote.
        groups = [
            {k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in group.items()}
            for group in saved_optimizer["param_groups"]
        ]
        optimizer_state = {"state": state, "param_groups": groups}
    return {"model": model_state, "optimizer_state_dict": optimizer_state, "metadata": metadata}


def load_checkpoint(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    strict: bool = True,
) -> dict[str, Any]:
    """Load the checkpoint at ``path`` into ``model`` (and ``optimizer``). ``strict=True``: every
    tensor must be there with the model's shape. ``strict=False``: the tensors whose name and shape
    match are loaded, the others are skipped and listed; the optimizer is loaded only when every
    model tensor matched. Returns the metadata with ``loaded`` and ``skipped`` (tensor names)."""
    checkpoint = read_checkpoint(path, device)
    saved = checkpoint["model"]
    own = model.state_dict()
    mismatched = [k for k in own if k in saved and saved[k].shape != own[k].shape]
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    if strict and (mismatched or missing or unexpected):
        details = [f"{k}: checkpoint {tuple(saved[k].shape)}, model {tuple(own[k].shape)}" for k in mismatched]
        details += [f"{k}: missing" for k in missing] + [f"{k}: not in the model" for k in unexpected]
        raise SpecError(
            str(path),
            "does not fit the model (" + "; ".join(details) + "); strict=False loads what fits, "
            "transplant_weights copies across sizes",
        )
    loaded = [k for k in own if k in saved and k not in mismatched]
    model.load_state_dict({k: saved[k] for k in loaded}, strict=False)
    skipped = mismatched + missing
    optimizer_state = checkpoint["optimizer_state_dict"]
    if optimizer is not None and optimizer_state is not None and not skipped:
        optimizer.load_state_dict(optimizer_state)
    return {**checkpoint["metadata"], "loaded": loaded, "skipped": skipped}


def transplant_tensor(source: Tensor, target: Tensor) -> Tensor:
    """``target`` (a copy) with ``source``'s entries transplanted: along each dimension, a larger
    target takes the source whole in its leading positions; a smaller one takes the source's
    central positions (offset ⌊(old − new) / 2⌋)."""
    if source.dim() != target.dim():
        raise SpecError("transplant", f"cannot transplant a {source.dim()}-d tensor into a {target.dim()}-d one")
    out = target.detach().clone()
    source_index, target_index = [], []
    for old, new in zip(source.shape, target.shape):
        if new >= old:
            source_index.append(slice(0, old))
            target_index.append(slice(0, old))
        else:
            offset = (old - new) // 2
            source_index.append(slice(offset, offset + new))
            target_index.append(slice(0, new))
    out[tuple(target_index)] = source[tuple(source_index)].to(device=out.device, dtype=out.dtype)
    return out


def transplant_weights(
    model: nn.Module, checkpoint_path: str | os.PathLike[str], device: str | torch.device = "cpu", verbose: bool = True
) -> dict[str, str]:
    """Copy the checkpoint's weights into ``model`` even when the sizes differ (module docstring).
    Returns, for each tensor of the model, ``"copied"``, ``"transplanted"`` (sizes differed) or
    ``"kept"`` (not in the checkpoint)."""
    saved = read_checkpoint(checkpoint_path, device)["model"]
    own = model.state_dict()
    report: dict[str, str] = {}
    new_state = {}
    for name, tensor in own.items():
        if name not in saved:
            report[name] = "kept"
            continue
        source = saved[name]
        if source.shape == tensor.shape:
            new_state[name] = source.to(device=tensor.device, dtype=tensor.dtype)
            report[name] = "copied"
        else:
            new_state[name] = transplant_tensor(source, tensor)
            report[name] = "transplanted"
    model.load_state_dict(new_state, strict=False)
    if verbose:
        moved = {k: v for k, v in report.items() if v != "kept"}
        sizes = ", ".join(
            f"{k} {tuple(saved[k].shape)}->{tuple(own[k].shape)}" for k, v in moved.items() if v == "transplanted"
        )
        print(
            f"transplant: {len(moved)}/{len(report)} tensors from {checkpoint_path}" + (f" ({sizes})" if sizes else "")
        )
    return report


def get_checkpoint_info(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint's metadata (``epoch``, ``loss``, ``num_neurons``, ``config``, ``extra_data``)
    without building a model; a safetensors checkpoint is read from its header only."""
    source = Path(path)
    if not source.is_file():
        raise SpecError(str(path), "no such checkpoint file")
    if not _is_safetensors(source):
        return _torch_file(source, device)["metadata"]
    with safe_open(str(source), framework="pt") as file:
        header = file.metadata() or {}
    if "realnet" not in header:
        raise SpecError(str(path), "is a safetensors file without RealNet metadata")
    metadata = json.loads(header["realnet"])
    metadata.pop("optimizer", None)
    return metadata  # type: ignore[no-any-return]
