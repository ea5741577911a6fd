"""Every wiring in examples/ builds, runs and conforms; the architecture examples also build from
the Python builder to the same model (parameter names, and outputs under one seed)."""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

import pytest
import torch
from engrammar import first_party, registry
from engrammar.cli import main
from engrammar.first_party import provider_of
from engrammar.registry import UnknownNameError
from engrammar.testing import conformance_tests
from engrammar.wiring import NodeRef, Wiring, build_wiring, load_graph_spec
from engrammar.wiring.loader import is_wiring_path, load_data
from hypothesis import strategies as st

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALL = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml", ".toml", ".json"))


# ---- the same architectures written with the Python builder ----------------------------------


def several_memories() -> Wiring:
    w = Wiring("several_memories", in_features=8)
    proj = w.node("proj", "linear", out_features=16, inputs=w.x)
    fast = w.node("fast", "ema", init_decay=0.5, inputs=proj)
    slow = w.node("slow", "ema", init_decay=0.95, inputs=proj)
    w.node("head", "linear", out_features=8, inputs=[fast, slow])
    w.output("head")
    return w


def shared_controller() -> Wiring:
    w = Wiring("shared_controller", in_features=8)
    ctrl = w.node("ctrl", "linear", out_features=32, inputs=[w.x, "short@-1", "long@-1"])
    short_in = w.node("short_in", "linear", out_features=16, inputs=ctrl)
    long_in = w.node("long_in", "linear", out_features=16, inputs=ctrl)
    short = w.node("short", "ema", init_decay=0.5, inputs=short_in)
    long = w.node("long", "ema", init_decay=0.95, inputs=long_in)
    w.node("head", "linear", out_features=8, inputs=[ctrl, short, long])
    w.output("head")
    return w


def residual_memory() -> Wiring:
    w = Wiring("residual_memory", in_features=8)
    proj = w.node("proj", "linear", out_features=16, inputs=w.x)
    mem = w.node("mem", "ema", init_decay=0.9, inputs=proj)
    gated = w.node("gated", "residual_gate", path=mem, bypass=proj, init_bias=0.0)
    w.node("head", "linear", out_features=8, inputs=gated)
    w.output("head")
    return w


def mixture_of_memories(
    name: str = "mixture_of_memories", top_k: int | None = None, router: dict | None = None
) -> Wiring:
    w = Wiring(name, in_features=8)
    ctrl = w.node("ctrl", "linear", out_features=16, inputs=w.x)
    experts = [
        w.node(expert, "ema", init_decay=decay, inputs=ctrl)
        for expert, decay in (("fast", 0.3), ("medium", 0.8), ("slow", 0.97))
    ]
    top = {"top_k": top_k} if top_k is not None else {}
    if router is not None:  # a router from the registry, reading ctrl, with its own fields
        mix = w.node("mix", "moe", router={**router, "in": ctrl}, experts=experts)
    else:
        mix = w.node("mix", "moe", router=ctrl, experts=experts, balance_weight=0.01, **top)
    w.node("head", "linear", out_features=8, inputs=[ctrl, mix])
    w.output("head")
    return w


def controller_feedback(name: str = "controller_feedback", hidden: int = 32, decay: float = 0.9) -> Wiring:
    w = Wiring(name, in_features=8)
    ctrl = w.node("ctrl", "linear", out_features=hidden, inputs=[w.x, "mem@-1"])
    mem = w.node("mem", "ema", init_decay=decay, inputs=ctrl)
    w.node("head", "linear", out_features=8, inputs=[ctrl, mem])
    w.output("head")
    return w


def stacked_blocks() -> Wiring:
    block = str(EXAMPLES / "residual_memory.yaml")
    w = Wiring("stacked_blocks", in_features=8)
    first = w.node("first", block, inputs=w.x)
    w.node("second", block, inputs=first, overrides={"nodes.mem.init_decay": 0.99})
    w.output("second")
    return w


def lstm_memory(name: str, memory: str, **memory_fields: int) -> Wiring:
    """examples/lstm_dnc.yaml and lstm_ntm.yaml (plugins: controllers, dnc / ntm)."""
    w = Wiring(name, in_features=7)
    ctrl = w.node("ctrl", "lstm", hidden_size=64, inputs=[w.x, NodeRef("mem").delayed(1)])
    mem = w.node("mem", memory, **memory_fields, inputs=ctrl)
    w.node("head", "linear", out_features=6, inputs=[ctrl, mem])
    w.output("head")
    return w


def lstm_sliding_window() -> Wiring:
    """examples/lstm_sliding_window.yaml (plugins: controllers, attention)."""
    w = Wiring("lstm_sliding_window", in_features=7)
    ctrl = w.node("ctrl", "lstm", hidden_size=64, inputs=w.x)
    mem = w.node("mem", "sliding_window", window=32, hidden_size=64, num_heads=4, head_dim=16, inputs=ctrl)
    w.node("head", "linear", out_features=6, inputs=[ctrl, mem])
    w.output("head")
    return w


def hierarchical_memory() -> Wiring:
    """examples/hierarchical_memory.yaml (plugins: controllers, attention, episodic)."""
    w = Wiring("hierarchical_memory", in_features=8)
    ctrl = w.node("ctrl", "lstm", hidden_size=64, inputs=w.x)
    attention = {"hidden_size": 32, "num_heads": 2, "head_dim": 16}
    short = w.node("short", "short_term", window=16, **attention, inputs=ctrl)
    episodic = w.node(
        "episodic",
        "episodic",
        num_slots=64,
        key_size=16,
        value_size=16,
        readers=[{"use": "content_reader", "num_heads": 2}],
        writers=[{"use": "usage_writer"}],
        inputs=[w.x, ctrl],
    )
    persistent = w.node("persistent", "persistent_memory", num_slots=16, **attention, inputs=ctrl)
    w.node("head", "linear", out_features=64, inputs=[ctrl, short, episodic, persistent])
    w.output("head")
    return w


def demo_lstm_ema(feedback: bool) -> Wiring:
    """examples/demo_lstm_ema.yaml and demo_lstm_ema_feedback.yaml (plugin: controllers)."""
    w = Wiring("demo_lstm_ema_feedback" if feedback else "demo_lstm_ema", in_features=8)
    ctrl = w.node("ctrl", "lstm", hidden_size=64, inputs=[w.x, "mem@-1"] if feedback else w.x)
    mem = w.node("mem", "ema", init_decay=0.9, inputs=ctrl)
    w.output([ctrl, mem])
    return w


def titans(kind: str) -> Wiring:
    """examples/titans_mac.yaml, titans_mag.yaml and titans_mal.yaml (plugins: titans, attention)."""
    w = Wiring(f"titans_{kind}", in_features=8)
    embed = w.node("embed", "linear", out_features=64, inputs=w.x)
    memory = {"hidden_size": 64, "num_heads": 2, "head_dim": 32, "chunk_size": 16}
    window = {"hidden_size": 64, "num_heads": 4, "head_dim": 16, "window": 16, "persistent_slots": 4}
    if kind == "mal":
        mem = w.node("mem", "neural_memory", **memory, inputs=embed)
        w.node("attn", "sliding_window", **window, inputs=mem)
        w.output("attn")
    elif kind == "mag":
        attn = w.node("attn", "sliding_window", **window, inputs=embed)
        mem = w.node("mem", "neural_memory", **memory, inputs=embed)
        w.node("gate", "residual_gate", path=mem, bypass=attn)
        w.output("gate")
    else:
        mem = w.node("mem", "neural_memory", **memory, read_before_update=True, inputs=embed)
        w.node("attn", "sliding_window", **window, inputs=[embed, mem])
        w.output("attn")
    return w


#: Examples of other plugins' docs; their twins are checked when those plugins are installed.
PLUGIN_BUILDERS = {
    "lstm_dnc.yaml": lambda: lstm_memory("lstm_dnc", "dnc", memory_size=32, word_size=16, num_reads=4, num_writes=1),
    "lstm_ntm.yaml": lambda: lstm_memory("lstm_ntm", "ntm", memory_size=32, word_size=16, num_reads=1, num_writes=1),
    "lstm_sliding_window.yaml": lstm_sliding_window,
    "hierarchical_memory.yaml": hierarchical_memory,
    "demo_lstm_ema.yaml": lambda: demo_lstm_ema(False),
    "demo_lstm_ema_feedback.yaml": lambda: demo_lstm_ema(True),
    "titans_mac.yaml": lambda: titans("mac"),
    "titans_mag.yaml": lambda: titans("mag"),
    "titans_mal.yaml": lambda: titans("mal"),
    "mixture_topk_router.yaml": lambda: mixture_of_memories(
        "mixture_topk_router",
        router={"use": "topk_router", "top_k": 1, "noisy": True, "capacity_factor": 1.25, "balance_weight": 0.01},
    ),
}

BUILDERS = {
    "several_memories.yaml": several_memories,
    "shared_controller.toml": shared_controller,
    "residual_memory.yaml": residual_memory,
    "mixture_of_memories.yaml": mixture_of_memories,
    "mixture_top1.yaml": lambda: mixture_of_memories("mixture_top1", top_k=1),
    "controller_feedback.yaml": controller_feedback,
    "controller_feedback_wide.json": lambda: controller_feedback("controller_feedback_wide", 64, 0.99),
    "stacked_blocks.yaml": stacked_blocks,
}


@functools.cache
def missing_plugin(name: str) -> str | None:
    """The first-party distribution an example needs that is not installed here, or ``None``.

    Every ``use:`` (in nested wiring files too) must name an installed component or a name of a
    first-party plugin; anything else is an error in the example, and the test fails on it."""
    return _missing_plugin(load_data(EXAMPLES / name))


def _missing_plugin(data: dict) -> str | None:
    for node in data.get("nodes", {}).values():
        use = node["use"]
        if is_wiring_path(use):
            missing = _missing_plugin(load_data(use))
        else:
            missing = _provider_if_missing(use)
        # a component named inside a port (moe's `router: {use: topk_router, in: ctrl}`)
        for value in node.values():
            if missing is None and isinstance(value, dict) and isinstance(value.get("use"), str):
                missing = _provider_if_missing(value["use"])
        if missing is not None:
            return missing
    return None


def _provider_if_missing(use: str) -> str | None:
    try:
        registry.resolve(use)
        return None
    except UnknownNameError:
        provider = provider_of(use)
        if provider is None:
            raise
        try:
            metadata.distribution(provider)
        except metadata.PackageNotFoundError:
            return provider
        raise  # installed, yet without the name the hint table gives it


def skip_if_missing_plugin(name: str) -> None:
    provider = missing_plugin(name)
    if provider is not None:
        pytest.skip(f"{name} needs {provider}, which is not installed")


def test_an_unknown_use_in_an_example_fails_instead_of_skipping(tmp_path, monkeypatch) -> None:
    (tmp_path / "typo.yaml").write_text("in_features: 2\nnodes:\n  ctrl: {use: lstmm, in: x}\nout: ctrl\n")
    (tmp_path / "nested.yaml").write_text("in_features: 2\nnodes:\n  block: {use: typo.yaml, in: x}\nout: block\n")
    (tmp_path / "port.yaml").write_text(
        "in_features: 2\nnodes:\n  mix: {use: moe, router: {use: lstmm, in: x}, experts: [x, x]}\nout: mix\n"
    )
    for file in ("typo.yaml", "nested.yaml", "port.yaml"):
        with pytest.raises(UnknownNameError, match="no component named 'lstmm'"):
            _missing_plugin(load_data(tmp_path / file))
    # a first-party name whose distribution is not installed is the one reason to skip
    monkeypatch.setitem(first_party.PROVIDERS, "engrammar-not-installed", ("lstmm",))
    assert _missing_plugin(load_data(tmp_path / "nested.yaml")) == "engrammar-not-installed"
    assert _missing_plugin(load_data(tmp_path / "port.yaml")) == "engrammar-not-installed"


def test_every_example_has_a_builder_twin() -> None:
    assert set(ALL) == set(BUILDERS) | set(PLUGIN_BUILDERS)


@pytest.mark.parametrize("name", ALL)
def test_example_builds_runs_and_is_printed_by_the_build_command(name: str, capsys) -> None:
    skip_if_missing_plugin(name)
    graph = build_wiring(EXAMPLES / name)
    x = torch.randn(2, 6, graph.in_features)
    y, state = graph(x)
    assert y.shape == (2, 6, graph.out_features)
    assert torch.isfinite(y).all()
    y2, _ = graph(x, state)
    assert y2.shape == y.shape and torch.isfinite(y2).all()
    assert main(["build", str(EXAMPLES / name)]) == 0
    printed = capsys.readouterr().out
    assert f"{graph.graph_spec.name}: in_features={graph.in_features}, out_features={graph.out_features}" in printed
    assert f"plan:\n{graph.describe_plan()}\n" in printed


TWINS = {**BUILDERS, **PLUGIN_BUILDERS}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_file_and_builder_give_the_same_model(name: str) -> None:
    skip_if_missing_plugin(name)
    from_file_spec = load_graph_spec(EXAMPLES / name)
    assert TWINS[name]().spec() == from_file_spec
    torch.manual_seed(7)
    from_file = build_wiring(EXAMPLES / name)
    torch.manual_seed(7)
    from_builder = TWINS[name]().build()
    assert list(from_file.state_dict()) == list(from_builder.state_dict())
    for key, value in from_file.state_dict().items():
        assert torch.equal(value, from_builder.state_dict()[key]), key
    x = torch.randn(3, 9, from_file.in_features)
    resets = torch.rand(3, 9) < 0.2
    torch.manual_seed(11)  # the same draws for a component that samples in training mode (noisy routing)
    y_file, _ = from_file(x, None, resets)
    torch.manual_seed(11)
    assert torch.equal(y_file, from_builder(x, None, resets)[0])


def test_examples_cover_the_architectures_of_the_issue() -> None:
    """Several memories concatenated, one controller driving several memories, a residual gate, a
    mixture of experts, and a controller reading its memory's previous output."""
    several = load_graph_spec(EXAMPLES / "several_memories.yaml")
    assert several.nodes["head"].inputs == ("fast", "slow")
    shared = load_graph_spec(EXAMPLES / "shared_controller.toml")
    assert shared.nodes["short_in"].inputs == shared.nodes["long_in"].inputs == "ctrl"
    assert load_graph_spec(EXAMPLES / "residual_memory.yaml").nodes["gated"].use == "residual_gate"
    assert load_graph_spec(EXAMPLES / "mixture_of_memories.yaml").nodes["mix"].use == "moe"
    assert "mem@-1" in load_graph_spec(EXAMPLES / "controller_feedback.yaml").nodes["ctrl"].inputs
    assert build_wiring(EXAMPLES / "controller_feedback.yaml").plan.stages[0].mode == "step-major"


def _factory(name: str):
    def make(**fields):
        skip_if_missing_plugin(name)
        return build_wiring(EXAMPLES / name, **fields)

    make.__name__ = name
    return make


def test_top1_mixture_gradients_reach_every_parameter_once_every_expert_is_chosen() -> None:
    """What the skipped conformance property checks, on a batch large enough for top-1 routing to
    choose every expert somewhere."""
    torch.manual_seed(0)
    graph = build_wiring(EXAMPLES / "mixture_top1.yaml")
    x = torch.randn(8, 32, graph.in_features)
    chosen = []
    original = graph.nodes["mix"].routing
    graph.nodes["mix"].routing = lambda inputs: chosen.append(original(inputs)[0]) or original(inputs)
    y, _ = graph(x)
    assert bool((chosen[0].reshape(-1, 3) > 0).any(0).all())  # every expert chosen for some token
    (y * torch.randn_like(y)).sum().backward()
    for name, parameter in graph.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_titans_mac_gradients_reach_every_parameter() -> None:
    """What the skipped conformance property checks, on a sequence longer than one segment."""
    skip_if_missing_plugin("titans_mac.yaml")
    torch.manual_seed(0)
    graph = build_wiring(EXAMPLES / "titans_mac.yaml")
    y, _ = graph(torch.randn(2, 24, graph.in_features))
    (y * torch.randn_like(y)).sum().backward()
    for name, parameter in graph.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


_TOP_K = {"gradients": "top-1 routing: an expert chosen for no token of a tiny batch gets no gradient, by design"}

_MAC = {
    "gradients": "the retrieval reads the memory as it was before each 16-token segment: its gates and keys act "
    "only from the second segment on, beyond the drawn lengths (test_titans_mac_gradients_reach_every_parameter)"
}

_SKIPS = {"mixture_top1.yaml": _TOP_K, "mixture_topk_router.yaml": _TOP_K, "titans_mac.yaml": _MAC}

for _name in sorted(TWINS):
    globals()[f"TestConformance_{Path(_name).stem}"] = conformance_tests(
        _factory(_name),
        in_features=None,
        lengths=st.integers(1, 5),
        skip=_SKIPS.get(_name),
    )
