"""Checkpoints: one safetensors file, never a pickle.

A checkpoint is a nested dict (model weights, optimizer state, schedule, random generators, the
spec of model and task, the trainer's config, and whatever training extensions add in
``on_checkpoint_save``). :func:`save_checkpoint` splits it: every tensor goes into the safetensors
file under its path (``model/body.rnn.weight_ih_l0``, ``optimizer/state/0/exp_avg``), and the rest
becomes JSON in the file's metadata, with each tensor replaced by ``{"__tensor__": path}``. Loading
reverses it exactly; nothing in the file can run code. The metadata also holds a SHA-256 digest
of every tensor's bytes: a file damaged on disk or cut short is refused by name, never loaded as
silently wrong weights.

The file is written beside its destination and moved into place with ``os.replace``, so a reader
(or a crash) never sees half a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT",
    "decode",
    "encode",
    "load_checkpoint",
    "save_checkpoint",
    "tensors_digest",
    "write_atomic",
]

CHECKPOINT_NAME = "checkpoint.safetensors"
FORMAT = "engrammar-checkpoint/1"
_METADATA_KEY = "engrammar"


def encode(value: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    """JSON-able data for ``value``, moving its tensors into ``tensors`` (keyed by their path)."""
    if isinstance(value, torch.Tensor):
        key = path or "tensor"
        # Contiguous copies on the CPU: safetensors refuses views that share storage.
        tensors[key] = value.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v, tensors, f"{path}/{k}" if path else k) for k, v in value.items()}
        return {"__items__": [[k, encode(v, tensors, f"{path}/{k}" if path else str(k))] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, tensors, f"{path}/{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, tensors, f"{path}/{i}") for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"checkpoint entry {path or '<root>'!r} is a {type(value).__name__}: only tensors and plain "
        "data (dicts, lists, numbers, strings) can be saved without pickling"
    )


def decode(data: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(data, dict):
        if set(data) == {"__tensor__"}:
            return tensors[data["__tensor__"]]
        if set(data) == {"__items__"}:
            return {_key(k): decode(v, tensors) for k, v in data["__items__"]}
        if set(data) == {"__tuple__"}:
            return tuple(decode(v, tensors) for v in data["__tuple__"])
        return {k: decode(v, tensors) for k, v in data.items()}
    if isinstance(data, list):
        return [decode(v, tensors) for v in data]
    return data


def _key(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def write_atomic(path: str | Path, write: Any) -> None:
    """Call ``write(temporary_path)``, then move the result onto ``path`` in one step.

    The temporary file is flushed to disk before the move (otherwise a power cut soon after could
    leave an empty file under the final name) and gets the permissions a plain ``open`` would give
    (``mkstemp`` makes it readable by its owner only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> Path:
    """Write ``checkpoint`` (a nested dict of tensors and plain data) to ``path`` atomically."""
    tensors: dict[str, torch.Tensor] = {}
    data = encode(dict(checkpoint), tensors)
    payload = {"format": FORMAT, "sha256": tensors_digest(tensors), "data": data}
    metadata = {_METADATA_KEY: json.dumps(payload)}
    write_atomic(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))
    return Path(path)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; tensors land on ``device``."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        from engrammar.spec import SpecError

        raise SpecError(str(path), "no such checkpoint")
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            for key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    except SafetensorError as err:  # a YAML file, a truncated download, ...
        from engrammar.spec import SpecError

        raise SpecError(str(path), f"not a safetensors file ({err})") from None
    if _METADATA_KEY not in metadata:
        from engrammar.spec import SpecError

        raise SpecError(str(path), "not an engrammar checkpoint (no engrammar metadata)")
    from engrammar.spec import SpecError

    try:
        payload = json.loads(metadata[_METADATA_KEY])
    except ValueError:
        raise SpecError(str(path), "damaged checkpoint: its metadata is not valid JSON") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else payload
        raise SpecError(str(path), f"unknown checkpoint format {found!r} (expected {FORMAT})")
    # Files written before digests were stored have none; every file written now has one.
    if "sha256" in payload and payload["sha256"] != tensors_digest(tensors):
        raise SpecError(str(path), "damaged checkpoint: the tensors do not match the file's SHA-256 digest")
    try:
        return decode(payload["data"], tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise SpecError(str(path), f"damaged checkpoint: its metadata does not describe its tensors ({err})") from None
