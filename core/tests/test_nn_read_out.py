"""ReadOut (normalization, dropout, pass-through of the input) and rename_on_load, the key
migration that keeps state dicts saved under older parameter names loading."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from engrammar.nn import KeyRenames, ReadOut, rename_on_load
from torch import nn


def reads_and_inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, 4, 6, generator=gen), torch.randn(3, 4, 2, generator=gen)


def test_plain_read_out_is_the_identity_on_reads() -> None:
    read_out = ReadOut(6, 2)
    reads, inputs = reads_and_inputs()
    assert torch.equal(read_out(reads, inputs), reads)
    assert read_out.out_features == 6 and list(read_out.state_dict()) == []


def test_normalization_is_a_layer_norm_with_learned_scale_and_shift() -> None:
    read_out = ReadOut(6, 2, normalization=True)
    assert sorted(read_out.state_dict()) == ["norm.bias", "norm.weight"]
    with torch.no_grad():
        read_out.norm.weight.uniform_(0.5, 2.0)
        read_out.norm.bias.uniform_(-1.0, 1.0)
    reads, inputs = reads_and_inputs(1)
    mean, var = reads.mean(-1, keepdim=True), reads.var(-1, unbiased=False, keepdim=True)
    expected = (reads - mean) / torch.sqrt(var + 1e-5) * read_out.norm.weight + read_out.norm.bias
    torch.testing.assert_close(read_out(reads, inputs), expected)


def test_pass_through_appends_the_input_after_the_reads() -> None:
    read_out = ReadOut(6, 2, normalization=True, pass_through=True)
    reads, inputs = reads_and_inputs(2)
    y = read_out(reads, inputs)
    assert read_out.out_features == 8 and y.shape == (3, 4, 8)
    assert torch.equal(y[..., 6:], inputs)  # the input untouched by the norm
    torch.testing.assert_close(y[..., :6], nn.functional.layer_norm(reads, (6,)))


def test_dropout_acts_in_training_only() -> None:
    read_out = ReadOut(6, 2, dropout=0.5)
    reads, inputs = reads_and_inputs(3)
    read_out.eval()
    assert torch.equal(read_out(reads, inputs), reads)
    read_out.train()
    torch.manual_seed(0)
    y = read_out(reads, inputs)
    dropped = y == 0
    assert dropped.any() and (~dropped).any()
    torch.testing.assert_close(y[~dropped], 2 * reads[~dropped])


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="dropout"):
        ReadOut(6, 2, dropout=1.0)
    with pytest.raises(ValueError, match="read_width"):
        ReadOut(0, 2)


# ---- rename_on_load ------------------------------------------------------------------------


class Memory(nn.Module):
    """A memory whose norm moved into a ReadOut: version 1 had ``norm.*``."""

    def __init__(self) -> None:
        super().__init__()
        self.interface = nn.Linear(2, 3)
        self.read_out = ReadOut(3, 2, normalization=True)
        rename_on_load(self, {"norm.": "read_out.norm."})


def old_layout(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state dict as version 1 wrote it: read_out.norm.* was norm.*; values made distinct."""
    out = {}
    for key, value in module.state_dict().items():
        old = key.replace(f"{prefix}read_out.norm.", f"{prefix}norm.")
        out[old] = torch.randn_like(value)
    return out


def test_a_state_dict_with_old_names_loads_strictly_into_the_new_layout() -> None:
    memory = Memory()
    old = old_layout(memory)
    assert "norm.weight" in old and "read_out.norm.weight" not in old
    result = memory.load_state_dict(old)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(memory.read_out.norm.weight, old["norm.weight"])
    assert torch.equal(memory.read_out.norm.bias, old["norm.bias"])
    assert torch.equal(memory.interface.weight, old["interface.weight"])
    assert "norm.weight" in old  # the caller's dict is left as it was


def test_renames_apply_below_any_prefix() -> None:
    outer = nn.ModuleDict({"mem": Memory()})
    old = old_layout(outer, prefix="mem.")
    outer.load_state_dict(old)
    assert torch.equal(outer["mem"].read_out.norm.weight, old["mem.norm.weight"])


def test_new_names_win_and_an_old_duplicate_is_reported() -> None:
    memory = Memory()
    new = {k: torch.randn_like(v) for k, v in memory.state_dict().items()}
    both = {**new, "norm.weight": torch.zeros(3)}
    with pytest.raises(RuntimeError, match="Unexpected key.*norm.weight"):
        memory.load_state_dict(both)
    memory.load_state_dict(both, strict=False)
    assert torch.equal(memory.read_out.norm.weight, new["read_out.norm.weight"])


def test_a_single_key_rename_leaves_longer_names_alone() -> None:
    hook = KeyRenames({"scale": "gain"})
    state = {"m.scale": torch.ones(1), "m.scale_bias": torch.zeros(1)}
    hook(nn.Module(), state, "m.")
    assert sorted(state) == ["m.gain", "m.scale_bias"]


def test_modules_with_renames_still_copy_and_pickle() -> None:
    memory = Memory()
    clone = copy.deepcopy(memory)
    buffer = io.BytesIO()
    torch.save(memory, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    for restored in (clone, loaded, pickle.loads(pickle.dumps(memory))):
        restored.load_state_dict(old_layout(memory))  # the hook came along


@pytest.mark.parametrize("renames", [{"norm.": "read_out.norm"}, {"": "x"}, {"a": "a"}])
def test_bad_renames_are_refused(renames: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="bad rename"):
        KeyRenames(renames)
