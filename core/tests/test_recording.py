"""The channel for auxiliary losses, metrics and traces: ``engrammar.recording``.

Names are module paths; reports go to every open recording that knows the module, in this
context only (nested recordings, threads); nothing is kept when none is open; several reports
under one name add up, a Pooled value pools its sums; a moe's load-balancing loss is the same
whether the wiring runs layer-major, step-major, or step by step."""

from __future__ import annotations

import threading

import engrammar
import pytest
import torch
from engrammar import (
    Pooled,
    Wiring,
    build,
    is_recording,
    is_tracing,
    recording,
    report_loss,
    report_metric,
    report_trace,
)
from engrammar.builtin.ema import EMA
from engrammar.component import Component
from engrammar.wiring import build_wiring
from test_combinators import naive_mixture
from torch import nn


def _mixture(top_k: int | None = 1) -> nn.Module:
    torch.manual_seed(0)
    return build("moe", in_features=3 + 2 * 2, input_sizes=(3, 2, 2), top_k=top_k, balance_weight=0.5)


def _mixture_graph(in_loop: bool) -> engrammar.wiring.Graph:
    """A mixture of two memories, layer-major or (with the feedback edge) inside a step-major loop."""
    w = Wiring("moe_graph", in_features=3)
    ctrl = w.node("ctrl", "linear", out_features=4, inputs=[w.x, "mix@-1"] if in_loop else w.x)
    a = w.node("a", "ema", init_decay=0.3, inputs=ctrl)
    b = w.node("b", "ema", init_decay=0.9, inputs=ctrl)
    w.node("mix", "moe", router=ctrl, experts=[a, b], top_k=1, balance_weight=0.5)
    w.output("mix")
    torch.manual_seed(0)
    return w.build()


def _attributes(module: nn.Module) -> dict[str, dict[str, object]]:
    return {name: dict(vars(sub)) for name, sub in module.named_modules()}


# ---- nothing open ------------------------------------------------------------------------------


def test_outside_any_recording_nothing_is_recorded_or_kept() -> None:
    moe = _mixture()
    before = _attributes(moe)
    assert not is_recording(moe) and not is_tracing(moe)
    moe(torch.randn(2, 5, 7))
    moe.step(torch.randn(2, 7))
    report_loss(moe, "anything", torch.ones(2, 2))  # not even checked: nobody listens
    report_metric(moe, "anything", 1.0)
    report_trace(moe, {"w": torch.ones(2)})
    assert _attributes(moe) == before  # no attribute written, none replaced
    # a recording opened later sees only what happens while it is open
    with recording(moe) as record:
        pass
    assert record.losses == {} and record.metrics == {} and record.traces == {}


def test_a_closed_recording_keeps_what_it_got_and_gets_nothing_more() -> None:
    moe = _mixture()
    x = torch.randn(2, 5, 7)
    with recording(moe) as record:
        assert record.is_open and is_recording(moe)
        moe(x)
    assert not record.is_open and not is_recording(moe)
    kept = record.losses["load_balance"]
    moe(torch.randn(2, 9, 7))
    torch.testing.assert_close(record.losses["load_balance"], kept)
    with pytest.raises(RuntimeError, match="opened once"):
        record.__enter__()


# ---- the moe loss: one meaning whatever runs it ------------------------------------------------


@pytest.mark.parametrize("top_k", [None, 1, 2])
def test_mixture_loss_is_the_oracle_over_every_token_of_the_recording(top_k) -> None:
    moe = _mixture(top_k)
    x = torch.randn(2, 5, 7)
    with recording(moe) as record:
        moe(x)
    _, expected = naive_mixture(moe, x)
    assert list(record.losses) == ["load_balance"]  # the recorded model itself: no prefix
    torch.testing.assert_close(record.losses["load_balance"], expected)
    # two calls in one recording: the loss pools both calls' tokens, as one call on both would
    more = torch.randn(2, 3, 7)
    with recording(moe) as record:
        moe(x)
        moe(more)
    _, pooled = naive_mixture(moe, torch.cat([x, more], dim=1))
    torch.testing.assert_close(record.losses["load_balance"], pooled)


def test_mixture_loss_is_the_same_from_forward_and_from_steps() -> None:
    moe = _mixture()
    x = torch.randn(3, 6, 7)
    with recording(moe) as whole:
        moe(x)
    with recording(moe) as stepped:
        state = None
        for t in range(6):
            _, state = moe.step(x[:, t], state)
    torch.testing.assert_close(stepped.losses["load_balance"], whole.losses["load_balance"])


@pytest.mark.parametrize("in_loop", [False, True])
def test_graph_names_the_loss_by_module_path_and_matches_the_oracle(in_loop: bool, monkeypatch) -> None:
    graph = _mixture_graph(in_loop)
    assert graph.plan.stages[0].mode == ("step-major" if in_loop else "layer-major")
    mix = graph.nodes["mix"]
    seen: list[torch.Tensor] = []
    original = mix._mix
    monkeypatch.setattr(mix, "_mix", lambda inputs: seen.append(inputs) or original(inputs))
    x = torch.randn(2, 7, 3)
    with recording(graph) as record:
        graph(x)
    assert list(record.losses) == ["nodes.mix.load_balance"]
    tokens = torch.cat([inputs.reshape(-1, inputs.shape[-1]) for inputs in seen])
    assert tokens.shape[0] == 2 * 7  # one call on the sequence, or one per step
    _, expected = naive_mixture(mix, tokens)
    loss = record.losses["nodes.mix.load_balance"]
    torch.testing.assert_close(loss, expected)
    loss.backward()  # differentiable: it reaches the router
    assert mix.router.weight.grad is not None and mix.router.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("in_loop", [False, True])
def test_graph_loss_is_equal_layer_major_step_major_and_step_by_step(in_loop: bool) -> None:
    """One wiring: forward runs it by its plan (layer-major or a step-major loop); public steps run
    it one step at a time (every node step-major). The recorded loss is the same."""
    graph = _mixture_graph(in_loop)
    x = torch.randn(2, 7, 3)
    with recording(graph) as whole:
        graph(x)
    with recording(graph) as stepped:
        state = None
        for t in range(7):
            _, state = graph.step(x[:, t], state)
    torch.testing.assert_close(stepped.losses["nodes.mix.load_balance"], whole.losses["nodes.mix.load_balance"])
    # resets split the layer-major pass into pieces; the tokens, and so the loss, stay the same
    resets = torch.zeros(2, 7, dtype=torch.bool)
    resets[0, 3] = True
    with recording(graph) as with_resets:
        graph(x, None, resets)
    with recording(graph) as stepped_resets:
        state = None
        for t in range(7):
            _, state = graph.step(x[:, t], state, resets[:, t])
    torch.testing.assert_close(
        with_resets.losses["nodes.mix.load_balance"], stepped_resets.losses["nodes.mix.load_balance"]
    )


def test_graph_nested_in_a_graph_gives_qualified_paths(tmp_path) -> None:
    inner = tmp_path / "inner.yaml"
    inner.write_text(
        "name: inner\nnodes:\n"
        "  ctrl: {use: linear, out_features: 4, in: x}\n"
        "  a: {use: ema, init_decay: 0.3, in: ctrl}\n"
        "  b: {use: ema, init_decay: 0.9, in: ctrl}\n"
        "  mix: {use: moe, router: ctrl, experts: [a, b], top_k: 1}\n"
        "out: mix\n"
    )
    outer = tmp_path / "outer.yaml"
    outer.write_text(
        "name: outer\nin_features: 3\nnodes:\n"
        "  block: {use: inner.yaml, in: [x, head@-1]}\n"
        "  head: {use: linear, out_features: 2, in: block}\nout: head\n"
    )
    torch.manual_seed(0)
    graph = build_wiring(outer)
    block = graph.nodes["block"]
    x = torch.randn(2, 5, 3)
    with recording(graph) as outer_record, recording(block) as inner_record:
        graph(x)
    assert list(outer_record.losses) == ["nodes.block.nodes.mix.load_balance"]
    assert list(inner_record.losses) == ["nodes.mix.load_balance"]  # names relative to its own model
    torch.testing.assert_close(
        outer_record.losses["nodes.block.nodes.mix.load_balance"], inner_record.losses["nodes.mix.load_balance"]
    )


# ---- nesting and threads -----------------------------------------------------------------------


def test_nested_recordings_each_see_the_reports_while_open() -> None:
    graph = _mixture_graph(in_loop=False)
    x1, x2 = torch.randn(2, 4, 3), torch.randn(2, 3, 3)
    with recording(graph) as outer:
        graph(x1)
        with recording(graph.nodes["mix"]) as inner:
            graph(x2)
        graph(x1)
    with recording(graph) as alone_second:
        graph(x2)
    with recording(graph) as all_three:
        graph(torch.cat([x1, x2, x1], dim=1))
    # the inner one saw the middle call only, the outer one all three: the router reads a linear map
    # of x, so the three calls route as one call on the three inputs side by side in time would
    torch.testing.assert_close(inner.losses["load_balance"], alone_second.losses["nodes.mix.load_balance"])
    torch.testing.assert_close(outer.losses["nodes.mix.load_balance"], all_three.losses["nodes.mix.load_balance"])
    assert not torch.allclose(outer.losses["nodes.mix.load_balance"], inner.losses["load_balance"])


def test_a_module_outside_the_recorded_model_reports_nothing_to_it() -> None:
    recorded, other = _mixture(), _mixture()
    with recording(recorded) as record:
        assert is_recording(recorded) and not is_recording(other)
        other(torch.randn(2, 3, 7))
    assert record.losses == {}


def test_two_threads_each_record_their_own_calls() -> None:
    moe = _mixture()
    inputs = [torch.randn(2, 5, 7), torch.randn(3, 4, 7)]
    expected = [naive_mixture(moe, x)[1].detach() for x in inputs]
    barrier = threading.Barrier(2)
    got: list[dict[str, torch.Tensor] | None] = [None, None]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with recording(moe) as record:
                barrier.wait()  # both recordings open at once, on the same module
                for _ in range(3):
                    moe(inputs[index][:, :2])
                    barrier.wait()  # interleave the two threads' calls
                    moe(inputs[index][:, 2:])
            got[index] = {k: v.detach() for k, v in record.losses.items()}
        except BaseException as err:  # reported by the main thread
            errors.append(err)
            barrier.abort()

    with recording(moe) as main_thread:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert main_thread.losses == {}  # another thread's calls are not this context's
    for index in range(2):
        # three passes over the same tokens pool to the loss of one pass
        torch.testing.assert_close(got[index]["load_balance"], expected[index])


# ---- losses, metrics, traces -------------------------------------------------------------------


class Reporter(EMA):
    """An ema that reports a loss, a metric and a trace per step (as a memory with an inner loss would)."""

    def _step(self, x_t, state):
        y, state = super()._step(x_t, state)
        report_loss(self, "size", y.pow(2).mean())
        report_metric(self, "mean_output", Pooled.mean(y.mean()))
        report_metric(self, "steps", 1.0)
        if is_tracing(self):
            report_trace(self, {"output": y}, final={"average": state["average"]})
        return y, state

    def _sequence(self, x, state):
        return Component._sequence(self, x, state)  # the plain loop over _step


def test_losses_add_up_metrics_are_detached_and_pooled_metrics_are_finished() -> None:
    torch.manual_seed(0)
    model = nn.ModuleDict({"mem": Reporter(in_features=3)})
    x = torch.randn(2, 4, 3, requires_grad=True)
    with recording(model) as record:
        y, _ = model["mem"](x)
    assert set(record.losses) == {"mem.size"} and set(record.metrics) == {"mem.mean_output", "mem.steps"}
    torch.testing.assert_close(record.losses["mem.size"], y.pow(2).mean(dim=(0, 2)).sum())
    assert record.losses["mem.size"].requires_grad
    assert record.metrics["mem.steps"] == 4.0
    mean_output = record.metrics["mem.mean_output"]
    assert isinstance(mean_output, torch.Tensor) and not mean_output.requires_grad
    torch.testing.assert_close(mean_output, y.mean().detach())
    assert record.traces == {}  # traces were not asked for
    with pytest.raises(KeyError, match="traces=True"):
        record.trace(model["mem"])


def test_traces_are_stacked_over_time_and_detached() -> None:
    torch.manual_seed(0)
    model = nn.ModuleDict({"mem": Reporter(in_features=3)})
    x = torch.randn(2, 4, 3, requires_grad=True)
    with recording(model, traces=True) as record:
        assert is_tracing(model["mem"])
        y, state = model["mem"](x)
        y_next, state = model["mem"].step(x[:, 0], state)
    trace = record.traces["mem"]
    assert trace["output"].shape == (2, 5, 3) and not trace["output"].requires_grad
    torch.testing.assert_close(trace["output"], torch.cat([y, y_next[:, None]], dim=1).detach())
    torch.testing.assert_close(trace["average"], state["average"].detach())  # the latest final only
    assert record.trace(model["mem"]).keys() == trace.keys()
    assert record.module("mem") is model["mem"] and record.name_of(model) == ""


def test_sequence_traces_append_along_time() -> None:
    module = nn.Linear(1, 1)
    with recording(module, traces=True) as record:
        report_trace(module, {"w": torch.zeros(2, 3, 4)}, sequence=True)
        report_trace(module, {"w": torch.ones(2, 4)})
    assert record.traces[""]["w"].shape == (2, 4, 4)
    assert record.traces[""]["w"][:, 3].eq(1).all() and record.traces[""]["w"][:, :3].eq(0).all()
    with recording(module, traces=True), pytest.raises(ValueError, match="one length"):
        report_trace(module, {"a": torch.zeros(2, 3), "b": torch.zeros(2, 4)}, sequence=True)


def test_bad_reports_get_one_clear_error() -> None:
    module = nn.Linear(1, 1)
    with recording(module) as record:
        with pytest.raises(
            ValueError, match=r"report_loss\(Linear, 'l'\): expected a scalar tensor, got a tensor of shape \(2,\)"
        ):
            report_loss(module, "l", torch.ones(2))
        report_loss(module, "mixed", torch.ones(()))
        with pytest.raises(ValueError, match="'mixed': reported both as a Pooled value and as a plain one"):
            report_loss(module, "mixed", Pooled.mean(torch.ones(())))
        report_metric(module, "pooled", Pooled((1.0, 2.0), lambda a, b: a / b))
        with pytest.raises(ValueError, match="pooled reports with 2 and 1 sums"):
            report_metric(module, "pooled", Pooled((1.0,), float))
        report_loss(module, "vector", Pooled((torch.ones(3),), lambda s: s))
    with pytest.raises(ValueError, match="'vector': a loss is a scalar tensor, got a tensor of shape"):
        record.losses  # noqa: B018
    with pytest.raises(TypeError, match="needs the torch.nn.Module"):
        recording("model")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="not a module of the recorded model"):
        record.name_of(nn.Linear(1, 1))
    with pytest.raises(KeyError, match="no module at 'nodes.absent' in the recorded model"):
        record.module("nodes.absent")


def test_the_channel_is_exported_at_the_top_level() -> None:
    for name in (
        "recording",
        "Recording",
        "Pooled",
        "report_loss",
        "report_metric",
        "report_trace",
        "is_recording",
        "is_tracing",
    ):
        assert name in engrammar.__all__ and getattr(engrammar, name) is getattr(engrammar.recorder, name)
