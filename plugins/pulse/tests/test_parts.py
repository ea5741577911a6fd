"""The tutorial's parts: the gated updates written out by hand, communication, the state manager's
importance, pruning and allocation beside a real optimizer, the router, the layer and the classifier."""

from __future__ import annotations

import pytest
import torch
from engrammar_pulse import PulseLayer, SimplePulse, StateManager, StatePropagator, TokenToStateRouter
from torch import nn


def test_gru_update_by_hand() -> None:
    torch.manual_seed(0)
    propagator = StatePropagator(3, gate_type="gru")
    state, update = torch.randn(2, 3), torch.randn(2, 3)
    weight, bias = propagator.gates.weight, propagator.gates.bias
    both = torch.cat([update, state], -1)
    reset = torch.sigmoid(both @ weight[:3].T + bias[:3])
    keep = torch.sigmoid(both @ weight[3:].T + bias[3:])
    candidate = torch.tanh(propagator.candidate_input(update) + (reset * state) @ propagator.candidate_state.weight.T)
    torch.testing.assert_close(propagator(state, update), keep * state + (1 - keep) * candidate)


def test_lstm_update_by_hand() -> None:
    torch.manual_seed(0)
    propagator = StatePropagator(3, gate_type="lstm")
    state, update = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    both = torch.cat([update, state], -1)
    gates = torch.sigmoid(propagator.gates(both))
    forget, take = gates[..., :3], gates[..., 3:]
    expected = forget * state + take * torch.tanh(propagator.candidate(both))
    torch.testing.assert_close(propagator(state, update), expected)
    assert torch.equal(propagator.gates.bias[:3], torch.ones(3))  # forget little at first


def test_communication_mixes_states_and_respects_the_active_mask() -> None:
    torch.manual_seed(0)
    talking = StatePropagator(4, num_heads=2, enable_communication=True)
    state, update = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    alone, _ = talking.gated_update(state, update)
    out = talking(state, update)
    assert not torch.allclose(out, alone)  # the states exchanged something
    # changing one state changes the others (communication), but not in a single state (B, D)
    changed = state.clone()
    changed[:, 0] += 1
    assert not torch.allclose(talking(changed, update)[:, 1:], out[:, 1:])
    torch.testing.assert_close(talking(state[:, 0], update[:, 0]), alone[:, 0])
    # inactive states come back unchanged and are not read by the active ones
    active = torch.tensor([True, True, False, True, False])
    masked = talking(state, update, active=active)
    assert torch.equal(masked[:, ~active], state[:, ~active])
    poked = state.clone()
    poked[:, 2] += 5
    torch.testing.assert_close(talking(poked, update, active=active)[:, active], masked[:, active])


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="StatePropagator.gate_type: must be one of gru, lstm, got 'rnn'"):
        StatePropagator(4, gate_type="rnn")
    with pytest.raises(ValueError, match="StatePropagator.num_heads: must divide state_dim"):
        StatePropagator(6, num_heads=4, enable_communication=True)
    with pytest.raises(ValueError, match=r"StatePropagator: prev_state and new_input must both be"):
        StatePropagator(4)(torch.randn(2, 4), torch.randn(2, 3))
    with pytest.raises(ValueError, match="StateManager.initial_states: must be between 1 and 4, got 5"):
        StateManager(4, max_states=4, initial_states=5)


def test_importance_scores_learn_from_the_loss() -> None:
    torch.manual_seed(0)
    manager = StateManager(4, max_states=6, initial_states=4)
    assert manager().shape == (4, 4) and manager.get_active_count() == 4
    torch.testing.assert_close(manager.get_importance_scores(), torch.full((4,), 0.5))
    # a loss that wants slot 1 gone and slot 0 loud
    optimizer = torch.optim.SGD(manager.parameters(), lr=5.0)
    for _ in range(20):
        optimizer.zero_grad()
        states = manager()
        loss = states[1].square().sum() - states[0].square().sum()
        loss.backward()
        optimizer.step()
    scores = manager.get_importance_scores()
    assert scores[1] < 0.3 < 0.5 < scores[0]
    assert manager.importance_logits.grad is not None and manager.importance_logits.grad[4:].abs().sum() == 0


def test_pruning_and_allocation_keep_the_optimizer_working() -> None:
    torch.manual_seed(0)
    manager = StateManager(3, max_states=5, initial_states=4, prune_threshold=0.3)
    optimizer = torch.optim.Adam(manager.parameters(), lr=0.1)
    manager().sum().backward()
    optimizer.step()
    with torch.no_grad():
        manager.importance_logits[2] = -5.0  # slot 2 unimportant
    states, logits = manager.states, manager.importance_logits
    assert manager.prune_low_importance_states(optimizer) == 1
    assert manager.active.tolist() == [True, True, False, True, False]
    assert torch.equal(optimizer.state[states]["exp_avg"][2], torch.zeros(3))
    assert optimizer.state[states]["exp_avg"][0].abs().sum() > 0  # the others keep their moments
    assert manager.allocate_states(3, optimizer) == 2  # slots 2 and 4, all that is free
    assert manager.active.all() and manager.allocate_states(1) == 0
    torch.testing.assert_close(manager.get_importance_scores()[[2, 4]], torch.full((2,), 0.5))
    assert torch.equal(optimizer.state[logits]["exp_avg_sq"][[2, 4]], torch.zeros(2))
    # the same parameter objects train on
    assert manager.states is states and manager.importance_logits is logits
    manager().sum().backward()
    optimizer.step()


def test_pruning_keeps_the_most_important_slot() -> None:
    manager = StateManager(2, max_states=3, initial_states=3, prune_threshold=0.9)
    with torch.no_grad():
        manager.importance_logits.copy_(torch.tensor([-3.0, -1.0, -2.0]))
    assert manager.prune_low_importance_states() == 2
    assert manager.active.tolist() == [False, True, False]


def test_the_router_is_the_token_router_route() -> None:
    torch.manual_seed(0)
    router = TokenToStateRouter(token_dim=5, state_dim=8, num_states=3, num_heads=2)
    tokens, states = torch.randn(2, 7, 5), torch.randn(2, 3, 8)
    routed, weights = router(tokens, states)
    expected_routed, expected_weights = router.router.route(tokens, states)
    torch.testing.assert_close(routed, expected_routed)
    torch.testing.assert_close(weights, expected_weights)
    assert routed.shape == (2, 3, 8) and weights.shape == (2, 7, 3)


def test_the_layer_takes_any_number_of_states_and_tokens() -> None:
    torch.manual_seed(0)
    layer = PulseLayer(state_dim=8, token_dim=5, num_heads=2)
    for slots, length in ((3, 7), (16, 1)):
        states = torch.randn(2, slots, 8)
        out = layer(states, torch.randn(2, length, 5))
        assert out.shape == states.shape
    # the states read the tokens: other tokens, other states
    states, tokens = torch.randn(2, 3, 8), torch.randn(2, 4, 5)
    assert not torch.allclose(layer(states, tokens), layer(states, tokens + 1))
    with pytest.raises(ValueError, match=r"PulseLayer: tokens must be \(2, T, 5\)"):
        layer(states, torch.randn(2, 4, 6))


def test_the_classifier_learns_a_small_problem() -> None:
    torch.manual_seed(0)
    x = torch.randn(128, 6)
    labels = (x[:, 0] * x[:, 1] > 0).long()  # XOR of two signs: needs the nonlinearity
    model = SimplePulse(input_dim=6, state_dim=8, num_states=4, output_dim=2, num_heads=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
    accuracy = (model(x).argmax(-1) == labels).float().mean()
    assert accuracy > 0.9, accuracy
    assert model(torch.randn(3, 5, 6)).shape == (3, 2)  # a sequence of tokens too


def test_the_nsm_names_are_the_same_models() -> None:
    from nsm import NSMLayer
    from nsm.models import SimpleNSM

    torch.manual_seed(0)
    layer, classifier = PulseLayer(8, 5, num_heads=2), SimplePulse(6, 8, 4, 3, num_heads=2)
    other_layer, other_classifier = NSMLayer(8, 5, num_heads=2), SimpleNSM(6, 8, 4, 3, num_heads=2)
    other_layer.load_state_dict(layer.state_dict())  # strict: the same parameter names
    other_classifier.load_state_dict(classifier.state_dict())
    states, tokens, x = torch.randn(2, 3, 8), torch.randn(2, 4, 5), torch.randn(2, 6)
    torch.testing.assert_close(other_layer(states, tokens), layer(states, tokens))
    torch.testing.assert_close(other_classifier(x), classifier(x))
