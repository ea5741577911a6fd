"""The shipped config tree through Hydra's compose API: the write-up's groups and overrides, the
defaults lists of model=composed, node configs by `extends:`, instantiate on engrammar configs,
and model configs checked against the components' specs."""

from __future__ import annotations

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_hydra import CONFIG_DIR, check_model, model_data
from engrammar_hydra.overrides import prepare_overrides
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf


def composed(*overrides: str, config_dir: str = CONFIG_DIR):
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="config", overrides=list(overrides))


def test_the_write_up_groups_and_their_choices() -> None:
    cfg = composed()
    assert cfg.model.use == "gated_delta_rnn" and cfg.model.z2_symmetric is True  # z2_delta is the default
    assert cfg.data.task == "antipodal" and cfg.trainer.max_epochs == 50
    fast = composed("model=z2_seam", "trainer=fast")
    assert fast.model.use == "z2_seam"
    assert fast.trainer.max_epochs == 10 and fast.trainer.limit_train_batches == 0.1  # 10 % of the data
    assert fast.trainer.patience == 10  # the rest from trainer/default
    bigger = composed("model.hidden_size=128", "data.T=5000")
    assert bigger.model.hidden_size == 128 and bigger.data.T == 5000 and bigger.data.seed == bigger.seed


def test_instantiate_builds_engrammar_components_and_the_lightning_parts() -> None:
    cfg = composed("model=lstm", "model.hidden_size=12", "data.T=10", "data.train_size=8", "data.val_size=4")
    lstm = instantiate(cfg.model, in_features=4)
    assert type(lstm).__name__ == "LSTM" and lstm.spec.hidden_size == 12
    y, _ = lstm(torch.randn(2, 3, 4))
    assert y.shape == (2, 3, 12)
    data = instantiate(cfg.data)
    assert type(data).__name__ == "EngrammarDataModule" and data.task.spec.T == 10
    trainer = instantiate(cfg.trainer, accelerator="cpu", logger=False)
    assert trainer.max_epochs == 50 and {type(c).__name__ for c in trainer.callbacks} >= {"EarlyStopping"}


def test_model_composed_takes_its_parts_from_the_memory_and_controller_groups() -> None:
    cfg = composed("model=composed", "memory@model.nodes.mem=z2_seam", "controller@model.nodes.ctrl=gru")
    nodes = OmegaConf.to_container(cfg.model.nodes)
    assert nodes["mem"] == {"use": "z2_seam", "hidden_size": 32, "in": "ctrl"}
    assert nodes["ctrl"]["use"] == "gru" and nodes["ctrl"]["in"] == ["x", "mem@-1"]
    model = instantiate(cfg.model, in_features=4)
    assert model.out_features == 64 and type(model.nodes["mem"]).__name__ == "Z2Seam"


def test_a_wiring_node_extends_a_reusable_node_config(tmp_path) -> None:
    data = model_data(OmegaConf.to_container(composed("model=from_nodes").model))
    assert data["nodes"]["ctrl"] == {"use": "lstm", "hidden_size": 16, "in": "x"}
    assert data["nodes"]["mem"]["delta_rank"] == 4
    # a folder of the user's node configs is searched first
    (tmp_path / "lstm_small.yaml").write_text("use: gru\nhidden_size: 3\n")
    mine = model_data({"nodes": {"ctrl": {"extends": "lstm_small.yaml", "in": "x"}}, "out": "ctrl"}, [tmp_path])
    assert mine["nodes"]["ctrl"] == {"use": "gru", "hidden_size": 3, "in": "x"}
    with pytest.raises(SpecError, match=r"^model.nodes.ctrl.extends: no node config 'nope.yaml'"):
        model_data({"nodes": {"ctrl": {"extends": "nope.yaml", "in": "x"}}, "out": "ctrl"})


def test_a_wiring_file_is_a_model_by_extends(tmp_path, monkeypatch) -> None:
    (tmp_path / "base.yaml").write_text(
        "name: base\nnodes:\n  ctrl: {use: lstm, hidden_size: 8, in: x}\n  head: {use: linear, out_features: 2, in: ctrl}\nout: head\n"
    )
    monkeypatch.chdir(tmp_path)
    data = model_data({"_target_": "engrammar_hydra.build_component", "extends": "base.yaml",
                       "nodes": {"ctrl": {"hidden_size": 5}}})  # fmt: skip
    assert data["nodes"]["ctrl"] == {"use": "lstm", "hidden_size": 5, "in": "x"}
    check_model(data, 3)


def test_a_misspelt_field_is_one_line_naming_it_and_the_right_one() -> None:
    with pytest.raises(SpecError) as caught:
        check_model({"use": "gated_delta_rnn", "hiden_size": 12}, 4)
    message = str(caught.value)
    assert message.startswith("model.hiden_size: unknown field; did you mean 'hidden_size'?") and "\n" not in message
    with pytest.raises(SpecError, match=r"^model.nodes.mem.hidden_size: must be even"):
        check_model(model_data({"nodes": {"mem": {"use": "z2_seam", "hidden_size": 3, "in": "x"}}, "out": "mem"}), 4)
    with pytest.raises(SpecError, match=r"^model.hiden_size: unknown field; did you mean 'hidden_size'\?"):
        prepare_overrides(["model=lstm", "model.hiden_size=12"])


def test_a_spec_field_the_model_file_does_not_list_is_appended(tmp_path) -> None:
    assert prepare_overrides(["model=lstm", "model.dropout=0.1", "model.hidden_size=3"]) == [
        "model=lstm", "+model.dropout=0.1", "model.hidden_size=3",
    ]  # fmt: skip
    assert prepare_overrides(["model=z2_delta,lstm", "model.hidden_size=3"])[-1] == "model.hidden_size=3"
    with pytest.raises(SpecError, match=r"^model.temperature: unknown field"):  # z2_delta has none
        prepare_overrides(["model=z2_seam,z2_delta", "model.temperature=0.1"])
    # for every model of a sweep, and the user's own model configs count
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text("use: gru\nhidden_size: 4\nnum_layers: 1\n")
    argv = ["--config-dir", str(tmp_path), "model=mine,lstm", "model.num_layers=2"]
    assert prepare_overrides(argv)[-1] == "++model.num_layers=2"  # listed by one file of the sweep
    for model in ("mine", "lstm"):  # Hydra takes it for each
        cfg = composed(f"hydra.searchpath=[file://{tmp_path}]", f"model={model}", "++model.num_layers=2")
        assert cfg.model.num_layers == 2


def test_a_users_config_folder_adds_models(tmp_path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text(
        "_target_: engrammar_hydra.build_component\nuse: gru\nhidden_size: 4\n"
    )
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="config", overrides=[f"hydra.searchpath=[file://{tmp_path}]", "model=mine"])
    assert cfg.model.use == "gru"
    assert instantiate(cfg.model, in_features=2).spec.hidden_size == 4
