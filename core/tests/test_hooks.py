"""The training hook specifications are callable through a plugin manager."""

from __future__ import annotations

import pluggy
import pytest
from engrammar.hooks import HookSpecs, hookimpl, make_plugin_manager


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def before_backward(self, trainer: object, loss: float) -> float:
        self.calls.append(f"before_backward:{loss}")
        return 0.5

    @hookimpl
    def on_checkpoint_save(self, trainer: object, checkpoint: dict) -> None:
        checkpoint["recorder"] = {"calls": len(self.calls)}

    @hookimpl
    def on_checkpoint_load(self, trainer: object, checkpoint: dict) -> None:
        self.calls.append(f"loaded:{checkpoint['recorder']['calls']}")


def test_hooks_are_called_and_results_collected() -> None:
    recorder = Recorder()
    manager = make_plugin_manager([recorder])
    assert manager.hook.before_backward(trainer=None, loss=1.0) == [0.5]
    checkpoint: dict = {}
    manager.hook.on_checkpoint_save(trainer=None, checkpoint=checkpoint)
    assert checkpoint == {"recorder": {"calls": 1}}
    manager.hook.on_checkpoint_load(trainer=None, checkpoint=checkpoint)
    assert recorder.calls[-1] == "loaded:1"


def test_every_hook_is_documented() -> None:
    names = [n for n in vars(HookSpecs) if not n.startswith("_")]
    assert len(names) == 15
    assert all(getattr(HookSpecs, n).__doc__ for n in names)


def test_a_misspelled_hook_is_rejected() -> None:
    class Typo:
        @hookimpl
        def before_backwards(self, trainer: object) -> None: ...

    manager = make_plugin_manager()
    manager.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        manager.check_pending()
