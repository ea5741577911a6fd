"""engrammar experiments as a Hydra application (``engrammar-hydra``, ``python -m engrammar_hydra``).

The config tree ships in ``engrammar_hydra/conf``: ``config.yaml``, ``model/`` (z2_delta, z2_seam,
lstm, gru, composed, from_nodes), ``memory/`` and ``controller/`` (the parts ``model=composed``
chooses), ``nodes/`` (reusable node configs a wiring node ``extends:``), ``data/antipodal.yaml``,
``trainer/`` (default, fast). Training runs on engrammar-lightning (:func:`engrammar_hydra.app.run`).
"""

from __future__ import annotations

from .models import build_component, check_model, model_data

__all__ = ["CONFIG_DIR", "build_component", "check_model", "model_data"]


def _config_dir() -> str:
    from importlib import resources

    return str(resources.files("engrammar_hydra") / "conf")


#: the shipped config folder (for Hydra's compose API: ``initialize_config_dir(CONFIG_DIR)``)
CONFIG_DIR = _config_dir()
