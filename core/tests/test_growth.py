"""The growth protocol (engrammar.nn.growth): a node of a wiring grows in place, its readers widen,
the function is kept (with a carried state and delayed edges), the spec records the new width, and
errors name the node before anything changes. The growable component here is a small Elman
network written for these tests, so that core is tested alone."""

from __future__ import annotations

import copy

import attrs
import engrammar
import pytest
import torch
from engrammar.component import Component
from engrammar.nn.growth import Growth, Resized, build_empty, grow_node, outgoing, place, set_parameter, state_widener
from engrammar.spec import ComponentSpec, SpecError, field, ge, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn


@spec
class ElmanSpec(ComponentSpec):
    hidden_size: int = field(default=3, validator=ge(1), doc="units")


class Elman(Component):
    """h_t = tanh(W x_t + U h_{t-1} + b); grows by the protocol."""

    spec_cls = ElmanSpec

    def __init__(self, spec: ElmanSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.incoming = nn.Linear(self.in_features, self.spec.hidden_size)
        self.recurrent = nn.Linear(self.spec.hidden_size, self.spec.hidden_size, bias=False)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, StateEntry]:
        return {"h": StateEntry((self.spec.hidden_size,))}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.incoming(x_t) + self.recurrent(state["h"]))
        return h, {"h": h}

    def grow(self, amount: int, *, generator=None, outgoing_std: float = 0.01) -> Growth:
        hidden = self.spec.hidden_size
        grown = build_empty(type(self), attrs.evolve(self.spec, hidden_size=hidden + amount), like=self)
        units = torch.arange(hidden)
        resized = []
        for name, old in self.named_parameters():
            shape = grown.get_parameter(name).shape
            values = torch.zeros(shape)
            positions = (units,) if old.dim() == 1 else (units, torch.arange(old.shape[1]))
            if name == "recurrent.weight":
                values[units] = outgoing(shape, outgoing_std, generator, old)[units]
                positions = (units, units)
            place(old.detach(), positions, values)
            parameter = nn.Parameter(values)
            set_parameter(grown, name, parameter)
            resized.append(Resized(name, old, parameter, positions))
        return Growth(grown, tuple(resized), units, state_widener(grown, {"h": (units,)}))


@pytest.fixture(autouse=True)
def registered():
    engrammar.unregister("elman_for_growth")
    engrammar.register("memories", "elman_for_growth")(Elman)
    yield
    engrammar.unregister("elman_for_growth")


def wiring(**ctrl: object) -> dict:
    return {
        "name": "grows",
        "in_features": 2,
        "nodes": {
            "ctrl": {"use": "elman_for_growth", "hidden_size": 3, "in": ["x", "ctrl@-1", "mem@-1"], **ctrl},
            "mem": {"use": "linear", "out_features": 2, "in": "ctrl"},
            "head": {"use": "linear", "out_features": 2, "in": ["mem", "ctrl"]},
        },
        "out": "head",
    }


def test_place_and_embed_by_hand() -> None:
    into = torch.zeros(3, 4)
    place(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), (torch.tensor([0, 2]), torch.tensor([1, 3])), into)
    assert into.tolist() == [[0, 1, 0, 2], [0, 0, 0, 0], [0, 3, 0, 4]]
    old, new = torch.zeros(2), nn.Parameter(torch.zeros(3))
    resized = Resized("w", old, new, (torch.tensor([0, 2]),))
    assert resized.embed(torch.tensor([5.0, 6.0]), fill=-1.0).tolist() == [5.0, -1.0, 6.0]


def test_a_grown_node_keeps_the_function_with_carried_state_and_delays() -> None:
    torch.manual_seed(0)
    net = engrammar.build(wiring())
    before = copy.deepcopy(net)
    x = torch.randn(3, 9, 2)
    _, state = net(x[:, :5])
    identity = {name: p for name, p in net.named_parameters()}
    growth = grow_node(net, "ctrl", 2, generator=torch.Generator().manual_seed(1), outgoing_std=0.5)
    assert growth.component is net and net.spec.nodes["ctrl"].fields["hidden_size"] == 5
    grown_state = growth.widen_state(state)
    assert grown_state["ctrl"]["h"].shape == (3, 5) and grown_state["@history"]["ctrl"].shape == (3, 1, 5)
    torch.testing.assert_close(net(x[:, 5:], grown_state)[0], before(x[:, 5:], state)[0], rtol=0, atol=1e-6)
    # the readers' parameters along their input axis grew; every other parameter is the same object
    names = {r.name for r in growth.resized}
    assert names == {
        "nodes.ctrl.incoming.weight",  # reads its own delayed output: wider input, more units
        "nodes.ctrl.incoming.bias",
        "nodes.ctrl.recurrent.weight",
        "nodes.mem.proj.weight",
        "nodes.head.proj.weight",
    }
    for name, parameter in net.named_parameters():
        assert (parameter is identity[name]) == (name not in names), name
    for resized in growth.resized:
        assert resized.new is net.get_parameter(resized.name)
        assert torch.equal(
            resized.embed(resized.old.detach()) != 0,
            place(resized.old.detach() != 0, resized.positions, torch.zeros(resized.new.shape, dtype=torch.bool)),
        )
        picked = resized.new.detach()[torch.meshgrid(*resized.positions, indexing="ij")]
        assert torch.equal(picked, resized.old.detach()), resized.name


def test_new_units_start_silent_with_zero_incoming_and_random_outgoing_weights() -> None:
    net = engrammar.build(wiring())
    grow_node(net, "ctrl", 2, generator=torch.Generator().manual_seed(1), outgoing_std=0.5)
    ctrl = net.nodes["ctrl"]
    # inputs of ctrl: x (2), ctrl@-1 (3 old + 2 new), mem@-1 (2): the new units' own columns are 2..6 -> 5, 6
    incoming = ctrl.incoming.weight.detach()
    assert torch.all(incoming[3:] == 0) and torch.all(ctrl.incoming.bias.detach()[3:] == 0)
    assert torch.all(incoming[:3, 5:7] != 0)  # outgoing: new units' delayed output into old units
    assert torch.all(ctrl.recurrent.weight.detach()[3:] == 0) and torch.all(ctrl.recurrent.weight.detach()[:3, 3:] != 0)
    assert torch.all(net.nodes["head"].proj.weight.detach()[:, 5:] != 0)  # head reads [mem (2), ctrl (5)]
    _, state = net(torch.randn(4, 6, 2))
    assert torch.all(state["ctrl"]["h"][:, 3:] == 0)
    y, _ = net(torch.randn(4, 6, 2))
    y.sum().backward()
    assert ctrl.incoming.weight.grad[3:].abs().sum() > 0  # the silent units learn


def test_the_grown_wiring_rebuilds_from_its_saved_spec() -> None:
    net = engrammar.build(wiring())
    grow_node(net, "ctrl", 3, generator=torch.Generator().manual_seed(1))
    data = engrammar.unstructure(net.spec)
    assert data["nodes"]["ctrl"]["hidden_size"] == 6
    rebuilt = engrammar.build(data)
    rebuilt.load_state_dict(net.state_dict())  # same shapes everywhere: widths re-inferred
    x = torch.randn(2, 4, 2)
    assert torch.equal(rebuilt(x)[0], net(x)[0])


def test_a_node_that_cannot_grow_is_named_and_nothing_changes() -> None:
    net = engrammar.build(wiring())
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(SpecError, match=r"^nodes\.mem: 'linear' \(Linear\) cannot grow: it does not implement grow"):
        grow_node(net, "mem", 2)
    with pytest.raises(SpecError, match=r"^nodes\.ctrl: can only grow by at least 1 unit, got 0"):
        grow_node(net, "ctrl", 0)
    with pytest.raises(SpecError, match=r"^nodes\.ctl: no node named 'ctl'"):
        grow_node(net, "ctl", 1)
    assert net.spec.nodes["ctrl"].fields["hidden_size"] == 3
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_growing_the_output_or_a_reader_that_cannot_widen_fails_before_anything_changes() -> None:
    data = wiring()
    data["out"] = "ctrl"
    del data["nodes"]["head"]
    net = engrammar.build(data)
    with pytest.raises(SpecError, match=r"^nodes\.ctrl: feeds the wiring's output"):
        grow_node(net, "ctrl", 1)
    data = wiring()
    data["nodes"]["mem"] = {"use": "ema", "in": "ctrl"}  # its output is as wide as its input
    net = engrammar.build(data)
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    with pytest.raises(SpecError, match=r"^nodes\.mem: its output width depends on its input width"):
        grow_node(net, "ctrl", 1)
    assert {k: v.shape for k, v in net.state_dict().items()} == shapes
    assert net.spec.nodes["ctrl"].fields["hidden_size"] == 3
