"""realstore: safetensors checkpoints that round-trip model and optimizer, partial loads, transplants
between sizes (grow: the leading block, shrink: the central block), metadata without a model, and
PyTorch files read weights-only (a pickle that runs code is refused)."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from engrammar.spec import SpecError
from realnet import RealNet, RealNetTrainer, transplant_weights
from realnet.utils.realstore import get_checkpoint_info, load_checkpoint, save_checkpoint
from safetensors import safe_open

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])


def trained(num_neurons: int = 4, seed: int = 0) -> RealNetTrainer:
    torch.manual_seed(seed)
    trainer = RealNetTrainer(RealNet(num_neurons, [0, 1], [2], vocab_size=[-1, 3]), lr=1e-2)
    trainer.fit(X, Y.expand(4, 3), epochs=3, thinking_steps=3)
    return trainer


def test_a_checkpoint_round_trips_model_optimizer_and_metadata(tmp_path) -> None:
    trainer = trained()
    path = save_checkpoint(trainer.model, trainer.optimizer, 3, 0.25, tmp_path / "run.pth", extra_data={"note": "xor"})
    with safe_open(str(path), framework="pt") as file:  # safetensors, whatever the suffix
        assert "model.weight" in file.keys()
    torch.manual_seed(9)
    fresh = RealNet(4, [0, 1], [2], vocab_size=[-1, 3])
    optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    info = load_checkpoint(fresh, optimizer, path)
    assert info["epoch"] == 3 and info["loss"] == 0.25 and info["extra_data"] == {"note": "xor"}
    assert info["skipped"] == [] and set(info["loaded"]) == set(fresh.state_dict())
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor)
    saved_state = trainer.optimizer.state_dict()["state"]
    for index, entries in optimizer.state_dict()["state"].items():
        assert torch.equal(entries["exp_avg"], saved_state[index]["exp_avg"])
    assert optimizer.state_dict()["param_groups"] == trainer.optimizer.state_dict()["param_groups"]
    assert get_checkpoint_info(path) == {
        "format": "realnet-checkpoint/1",
        "epoch": 3,
        "loss": 0.25,
        "num_neurons": 4,
        "config": trainer.model.config(),
        "extra_data": {"note": "xor"},
    }


def test_strict_loading_names_the_mismatch_and_strict_false_loads_what_fits(tmp_path) -> None:
    path = save_checkpoint(trained().model, None, 1, 0.5, tmp_path / "small.safetensors")
    bigger = RealNet(6, [0, 1], [2], vocab_size=[-1, 3])
    decoder_before = bigger.decoder.weight.detach().clone()
    with pytest.raises(
        SpecError, match=r"small\.safetensors: does not fit the model \(weight: checkpoint \(4, 4\), model \(6, 6\)"
    ):
        load_checkpoint(bigger, None, path)
    info = load_checkpoint(bigger, None, path, strict=False)
    assert set(info["skipped"]) == {"weight", "bias"} and set(info["loaded"]) == {"decoder.weight", "decoder.bias"}
    assert not torch.equal(bigger.decoder.weight.detach(), decoder_before)


def test_transplant_copies_the_leading_block_when_growing_and_the_centre_when_shrinking(tmp_path, capsys) -> None:
    torch.manual_seed(1)
    small = RealNet(4, [0, 1], [2])
    path = save_checkpoint(small, None, 0, 0.0, tmp_path / "small_model_checkpoint.pth")
    big = RealNet(8, [0, 1], [2])
    untouched = big.weight.detach()[4:, 4:].clone()
    report = transplant_weights(big, path)
    assert report == {"weight": "transplanted", "bias": "transplanted"}
    assert torch.equal(big.weight.detach()[:4, :4], small.weight.detach())
    assert torch.equal(big.weight.detach()[4:, 4:], untouched)
    assert "transplant: 2/2 tensors" in capsys.readouterr().out
    torch.manual_seed(2)
    large = RealNet(10, [0, 1], [2])
    large_path = save_checkpoint(large, None, 0, 0.0, tmp_path / "large.safetensors")
    compact = RealNet(4, [0, 1], [2])
    transplant_weights(compact, large_path, verbose=False)
    assert torch.equal(compact.weight.detach(), large.weight.detach()[3:7, 3:7])  # the central 4×4
    assert torch.equal(compact.bias.detach(), large.bias.detach()[3:7])


def test_a_transplanted_model_starts_where_the_small_one_was(tmp_path) -> None:
    trainer = trained(num_neurons=4, seed=3)
    path = save_checkpoint(trainer.model, trainer.optimizer, 3, 0.0, tmp_path / "xor.safetensors")
    big = RealNet(12, [0, 1], [2], vocab_size=[-1, 3])
    with torch.no_grad():  # only the transplanted block, to show the copy is exact
        big.weight.zero_()
    transplant_weights(big, path, verbose=False)
    trainer.model.eval()
    big.eval()
    torch.testing.assert_close(big(X, steps=5)[0], trainer.model(X, steps=5)[0])


def test_a_torch_file_is_read_weights_only(tmp_path) -> None:
    torch.manual_seed(4)
    model = RealNet(5, [0, 1], [2])
    path = tmp_path / "elsewhere.pth"
    torch.save({"model_state_dict": model.state_dict(), "epoch": 7, "loss": 0.125}, path)
    info = get_checkpoint_info(path)
    assert (info["epoch"], info["loss"], info["num_neurons"]) == (7, 0.125, 5)
    fresh = RealNet(5, [0, 1], [2])
    load_checkpoint(fresh, None, path)
    assert torch.equal(fresh.weight, model.weight)
    bare = tmp_path / "bare.pth"
    torch.save(model.state_dict(), bare)
    bigger = RealNet(7, [0, 1], [2])
    transplant_weights(bigger, bare, verbose=False)
    assert torch.equal(bigger.weight.detach()[:5, :5], model.weight.detach())


class _Payload:
    """Unpickling this would run a command that leaves a file behind."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        pickle.dump(
            {"model_state_dict": {"weight": torch.zeros(2, 2)}, "hook": _Payload(str(marker))}, file, protocol=2
        )
    with pytest.raises(SpecError, match=r"evil\.pth: refused: the file holds objects other than tensors"):
        get_checkpoint_info(path)
    with pytest.raises(SpecError, match="refused"):
        transplant_weights(RealNet(3, [0], [1]), path)
    torch.save({"model_state_dict": {}, "hook": _Payload(str(marker))}, tmp_path / "evil_zip.pth")
    with pytest.raises(SpecError, match="refused"):
        load_checkpoint(RealNet(3, [0], [1]), None, tmp_path / "evil_zip.pth")
    assert not marker.exists()


def test_missing_files_and_bad_extra_data_are_named(tmp_path) -> None:
    with pytest.raises(SpecError, match=r"nothing\.pth: no such checkpoint file"):
        get_checkpoint_info(tmp_path / "nothing.pth")
    with pytest.raises(SpecError, match="^extra_data: must be plain data"):
        save_checkpoint(RealNet(3, [0], [1]), None, 0, 0.0, tmp_path / "x.safetensors", extra_data={"t": object()})
    assert not (tmp_path / "x.safetensors").exists()
