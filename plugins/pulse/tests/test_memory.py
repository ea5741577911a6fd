"""The ``pulse`` memory: its step written out by hand, the router used by registry name, constant
state, exact resets, pruned slots left out, traces, and clear errors."""

from __future__ import annotations

from pathlib import Path

import engrammar
import pytest
import torch
from engrammar import state_nbytes
from engrammar_pulse.memory import Pulse


def build(**fields: object) -> Pulse:
    torch.manual_seed(0)
    return engrammar.build("pulse", **{"in_features": 5, "num_states": 4, "state_dim": 6, "num_heads": 2, **fields})  # type: ignore[return-value]


def test_the_router_is_the_registry_token_router() -> None:
    memory = build()
    assert type(memory.router).__module__ == "engrammar_routers.token_router"
    assert memory.router.spec.num_states == 4 and memory.router.spec.state_dim == 6 and memory.router.in_features == 5


def test_nsm_is_the_same_memory() -> None:
    assert type(engrammar.build("nsm", in_features=3, num_states=2, state_dim=2, num_heads=1)) is Pulse


@pytest.mark.parametrize("fields", [{}, {"gate_type": "lstm", "enable_communication": True}])
def test_a_step_is_route_update_read(fields: dict[str, object]) -> None:
    memory = build(**fields)
    x = torch.randn(3, 5)
    state = memory.init_state(3)
    y, new = memory.step(x, state)
    # by hand: the router's own attention, a loop over slots for the read
    routing, queries = memory.router.attention(x[:, None], state["slots"])  # (B, 1, H, S), (B, 1, H, d)
    routed = torch.einsum("bths,bthd->bshd", routing, queries).flatten(-2)
    updated = memory.propagator(state["slots"], routed)
    weights = routing.mean(2)[:, 0]
    read = sum(weights[:, j, None] * updated[:, j] for j in range(4))
    torch.testing.assert_close(new["slots"], updated)
    torch.testing.assert_close(y, read)


def test_the_initial_slots_are_the_state_managers_and_learn_their_importance() -> None:
    memory = build()
    manager = memory.state_manager
    torch.testing.assert_close(memory.init_state(2)["slots"][1], manager.states * manager.importance()[:, None])
    y, _ = memory(torch.randn(2, 7, 5))
    y.square().sum().backward()
    assert manager.importance_logits.grad is not None and manager.importance_logits.grad.abs().sum() > 0
    assert manager.states.grad is not None and manager.states.grad.abs().sum() > 0


def test_the_state_is_constant_in_length() -> None:
    memory = build()
    sizes = {length: state_nbytes(memory(torch.randn(2, length, 5))[1]) for length in (1, 16, 64)}
    assert len(set(sizes.values())) == 1 and sizes[1] == 2 * 4 * 6 * 4  # B * S * D float32


def test_pruned_slots_stay_zero_and_are_not_read() -> None:
    memory = build(initial_states=2)
    x = torch.randn(2, 9, 5)
    _, state = memory(x)
    assert torch.equal(state["slots"][:, 2:], torch.zeros(2, 2, 6))
    assert state["slots"][:, :2].abs().sum() > 0
    # the inactive slots' contents cannot reach the output
    with engrammar.recording(memory, traces=True) as record:
        memory(x)
    read = record.trace(memory)["read_weights"]
    assert torch.equal(read[..., 2:], torch.zeros_like(read[..., 2:]))
    torch.testing.assert_close(read.sum(-1), torch.ones(2, 9))


def test_resets_start_again_from_the_learned_slots() -> None:
    memory = build(enable_communication=True)
    x = torch.randn(2, 6, 5)
    resets = torch.zeros(2, 6, dtype=torch.bool)
    resets[1, 3] = True
    y, _ = memory(x, resets=resets)
    fresh, _ = memory(x[1:, 3:])
    torch.testing.assert_close(y[1:, 3:], fresh)


def test_routing_is_recorded_for_plots() -> None:
    memory = build()
    with engrammar.recording(memory, traces=True) as record:
        memory(torch.randn(2, 5, 5))
    weights = record.trace(memory.router)["weights"]
    assert weights.shape == (2, 5, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"num_heads": 4}, "pulse.num_heads: must divide state_dim (6) into equal heads, got 4"),
        ({"initial_states": 5}, "pulse.initial_states: must be <= num_states (4), got 5"),
        ({"gate_type": "rnn"}, "pulse.gate_type"),
    ],
)
def test_bad_fields_are_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(engrammar.SpecError) as caught:
        build(**fields)
    assert str(caught.value).startswith(message)


def test_the_load_balancing_loss_is_pooled_over_every_token() -> None:
    memory = build(balance_weight=0.5)
    x = torch.randn(3, 6, 5)
    with engrammar.recording(memory, traces=True) as record:
        memory(x)
    share = record.trace(memory)["read_weights"].reshape(-1, 4).mean(0)
    loss = record.losses["load_balance"]
    torch.testing.assert_close(loss, 0.5 * 4 * share.square().sum())
    assert loss >= 0.5 - 1e-6  # 0.5 exactly when the load is even
    # one meaning however the tokens are split into calls
    with engrammar.recording(memory) as stepped:
        state = None
        for t in range(6):
            _, state = memory.step(x[:, t], state)
    torch.testing.assert_close(stepped.losses["load_balance"], loss)
    loss.backward()  # it trains the router
    assert memory.router.query.weight.grad is not None and memory.router.query.weight.grad.abs().sum() > 0
    unbalanced = build(balance_weight=0.0)
    with engrammar.recording(unbalanced) as none:
        unbalanced(x)
    assert none.losses == {}


def test_the_recall_example_wiring_builds_and_runs() -> None:
    wiring = Path(__file__).resolve().parent.parent / "examples" / "pulse_recall.yaml"
    graph = engrammar.build(str(wiring))
    assert type(graph.nodes["mem"]) is Pulse and graph.nodes["mem"].in_features == 64  # a token beside the one before
    y, state = graph(torch.randn(2, 5, 16))
    assert y.shape == (2, 5, 32 + 64) and state["mem"]["slots"].shape == (2, 16, 64)
