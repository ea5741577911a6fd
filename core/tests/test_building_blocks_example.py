"""A memory written from engrammar.nn's building blocks alone, as docs/authoring.md shows: it passes
the conformance suite, starts from an all-zero memory (content addressing must stay finite there)
and loads a state dict saved before its read-out's norm was renamed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from engrammar import Component, StateEntry
from engrammar.nn import ReadOut, content_weights, read_memory, rename_on_load, write_memory
from engrammar.spec import ComponentSpec, between, field, ge, spec
from engrammar.testing import check_saved_outputs, conformance_tests, read_out_tests, save_outputs
from torch import nn


@spec
class ContentMemorySpec(ComponentSpec):
    memory_size: int = field(default=8, validator=ge(1), doc="number of memory cells N")
    word_size: int = field(default=4, validator=ge(1), doc="width W of each cell")
    normalization: bool = field(default=False, doc="layer norm on the read vector")
    dropout: float = field(default=0.0, validator=between(0.0, 0.99), doc="dropout on the read vector")
    pass_through: bool = field(default=False, doc="append the input to the output")


class ContentMemory(Component):
    """One write and one read head, both addressed by content; erase then add."""

    spec_cls = ContentMemorySpec

    def __init__(self, spec: ContentMemorySpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        width = self.spec.word_size
        self.interface = nn.Linear(self.in_features, 4 * width + 2)  # keys, vectors, strengths
        self.read_out = ReadOut.from_spec(width, self.spec)  # normalization, dropout, pass_through
        rename_on_load(self, {"norm.": "read_out.norm."})  # version 1 kept the norm at the top

    @property
    def out_features(self) -> int:
        return self.read_out.out_features

    def state_spec(self) -> dict[str, StateEntry]:
        return {"memory": StateEntry((self.spec.memory_size, self.spec.word_size), doc="memory matrix M")}

    def _step(self, x_t, state):
        width = self.spec.word_size
        write_key, erase, add, read_key, strengths = self.interface(x_t).split([width] * 4 + [2], dim=-1)
        beta = F.softplus(strengths)  # (B, 2): write, read
        memory = state["memory"]  # (B, N, W), all zeros at the start
        write = content_weights(memory, write_key[:, None], beta[:, :1])  # (B, 1, N)
        memory = write_memory(memory, write, torch.sigmoid(erase)[:, None], add[:, None])
        read = content_weights(memory, read_key[:, None], beta[:, 1:])
        reads = read_memory(memory, read).flatten(1)  # (B, W)
        return self.read_out(reads, x_t), {"memory": memory}


TestContentMemoryConformance = conformance_tests(
    ContentMemory,
    specs=[
        {"memory_size": 3, "word_size": 2},
        {"memory_size": 2, "word_size": 3, "normalization": True, "pass_through": True},
    ],
)

TestContentMemoryReadOut = read_out_tests(ContentMemory, {"in_features": 3, "memory_size": 3, "word_size": 2})


def test_the_first_steps_on_an_empty_memory_are_finite_with_finite_gradients():
    torch.manual_seed(0)
    memory = ContentMemory(in_features=3).double()
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    y, state = memory(x)
    assert bool(torch.isfinite(y).all()) and float(state["memory"].detach().abs().sum()) > 0
    y.sum().backward()
    assert bool(torch.isfinite(x.grad).all())
    assert all(bool(torch.isfinite(p.grad).all()) for p in memory.parameters())


def test_a_state_dict_saved_under_the_old_names_loads(tmp_path):
    torch.manual_seed(1)
    memory = ContentMemory(in_features=3, normalization=True)
    with torch.no_grad():
        memory.read_out.norm.weight.uniform_(0.5, 1.5)
    path = save_outputs(memory, torch.randn(2, 4, 3), tmp_path / "v2.pt")
    saved = torch.load(path, weights_only=True)
    version_1 = {key.replace("state.read_out.norm.", "state.norm."): value for key, value in saved.items()}
    torch.save(version_1, tmp_path / "v1.pt")
    torch.manual_seed(2)
    fresh = ContentMemory(in_features=3, normalization=True)
    assert "norm.weight" in check_saved_outputs(fresh, tmp_path / "v1.pt").state
    assert torch.equal(fresh.read_out.norm.weight, memory.read_out.norm.weight)
