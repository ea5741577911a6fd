"""Command-line overrides of a model's fields, checked before Hydra composes the config.

Hydra refuses ``model.dropout=0.1`` when the chosen model's file does not list ``dropout`` (it
asks for ``+model.dropout=0.1``), and answers a typo (``model.hiden_size=128``) with a
composition error that suggests nothing. Here an override ``model.<field>=<value>`` is read
against the spec of the component every chosen model config uses (``model=lstm``, a sweep's
``model=z2_seam,lstm``, or the default): a field of the spec that the file does not list is
appended (``+model.<field>``, or ``++`` when only some chosen files list it), and a name that is no field is a one-line error naming it and the
closest field. Model configs found in ``--config-dir`` / ``-cd`` folders count; wirings (model
configs with ``nodes``) are left to Hydra and to :func:`engrammar_hydra.models.check_model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml
from engrammar.spec import structure

__all__ = ["prepare_overrides"]

_CONF = Path(__file__).parent / "conf"


def _default_model() -> str:
    defaults = yaml.safe_load((_CONF / "config.yaml").read_text())["defaults"]
    return next(entry["model"] for entry in defaults if isinstance(entry, dict) and "model" in entry)


def _config_dirs(argv: Sequence[str]) -> list[Path]:
    dirs: list[Path] = []
    for index, arg in enumerate(argv):
        if arg in ("--config-dir", "-cd") and index + 1 < len(argv):
            dirs.append(Path(argv[index + 1]))
        elif arg.startswith("--config-dir="):
            dirs.append(Path(arg.split("=", 1)[1]))
    return [*dirs, _CONF]


def _model_file(name: str, dirs: list[Path]) -> dict[str, Any] | None:
    for folder in dirs:
        path = folder / "model" / f"{name}.yaml"
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            return data if isinstance(data, dict) else None
    return None


def _spec_class(use: str) -> Any:
    from engrammar.registry import RegistryError, load, resolve

    try:
        cls = load(resolve(use))
    except RegistryError:
        return None  # an unknown name is check_model's to report
    return getattr(cls, "spec_cls", None)


def prepare_overrides(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``model.<field>=`` overrides of spec fields missing from the model file made
    ``+model.<field>=``; raises :class:`SpecError` (``model.<name>: unknown field; did you mean
    ...``) for a name that no chosen model's spec has."""
    dirs = _config_dirs(argv)
    chosen = [_default_model()]
    for arg in argv:
        if arg.startswith("model="):
            chosen = [name.strip() for name in arg.split("=", 1)[1].split(",") if name.strip()]
    files = [data for data in (_model_file(name, dirs) for name in chosen) if data is not None]
    if not files or any("nodes" in data or "extends" in data for data in files):
        return list(argv)
    prepared: list[str] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        parts = key.split(".")
        if not sep or len(parts) != 2 or parts[0] != "model" or arg.startswith("-"):
            prepared.append(arg)
            continue
        field_name = parts[1]
        in_files = all(field_name in data for data in files)
        if in_files:
            prepared.append(arg)
            continue
        specs = [_spec_class(str(data.get("use"))) for data in files]
        if any(spec_cls is None for spec_cls in specs):
            prepared.append(arg)
            continue
        for spec_cls in specs:
            if field_name not in attrs.fields_dict(spec_cls):
                # core's spec error: the field's path, the closest field, the fields there are
                structure({field_name: value}, spec_cls, path="model")
        # Hydra appends with "+" and sets-or-appends with "++" (a sweep whose files differ)
        prepared.append(f"++{key}={value}" if any(field_name in data for data in files) else f"+{key}={value}")
    return prepared
