"""topk_router by hand: ties, capacity overflow, noise, the load-balancing and z-loss formulas, and
spec errors. Every expected value below is worked out on paper in the comments."""

from __future__ import annotations

import math

import engrammar
import pytest
import torch
from engrammar import SpecError, recording
from engrammar_routers.topk_router import top_k_choices


@pytest.fixture(autouse=True)
def _float64():
    """Hand values in float64: routers and tensors of these tests are built in it."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def router_with_bias(bias: list[float], **fields) -> engrammar.Router:
    """A router whose logits are ``bias`` whatever the input (zero weights)."""
    router = engrammar.build("topk_router", in_features=1, num_experts=len(bias), **fields)
    with torch.no_grad():
        router.gate.weight.zero_()
        router.gate.bias.copy_(torch.tensor(bias))
    return router


def one_hot_router(experts: int, **fields) -> engrammar.Router:
    """A router whose logits are 10 * x: a one-hot token x picks its own expert."""
    router = engrammar.build("topk_router", in_features=experts, num_experts=experts, **fields)
    with torch.no_grad():
        router.gate.weight.copy_(10.0 * torch.eye(experts))
        router.gate.bias.zero_()
    return router


def tokens(ids: list[int], experts: int) -> torch.Tensor:
    """One sequence (1, T, E) of one-hot tokens."""
    return torch.nn.functional.one_hot(torch.tensor([ids]), experts).double()


# ---- ties ------------------------------------------------------------------------------------


def test_equal_logits_go_to_the_lower_expert_index() -> None:
    # logits [1, 2, 2, 0]: experts 1 and 2 tie for the best; top-1 takes 1, top-2 takes {1, 2}
    p = torch.softmax(torch.tensor([1.0, 2.0, 2.0, 0.0]), -1)
    x = torch.zeros(2, 3, 1)
    top1, _ = router_with_bias([1.0, 2.0, 2.0, 0.0])(x)
    torch.testing.assert_close(top1, torch.tensor([0.0, p[1], 0.0, 0.0]).expand(2, 3, 4))
    top2, _ = router_with_bias([1.0, 2.0, 2.0, 0.0], top_k=2)(x)
    torch.testing.assert_close(top2, torch.tensor([0.0, p[1], p[2], 0.0]).expand(2, 3, 4))
    # four equal logits: top-3 keeps 0, 1, 2 with a quarter each; the step path agrees
    router = router_with_bias([0.5, 0.5, 0.5, 0.5], top_k=3)
    step, _ = router.step(torch.zeros(2, 1))
    torch.testing.assert_close(step, torch.tensor([0.25, 0.25, 0.25, 0.0]).expand(2, 4))
    # a tie between the 2nd and 3rd best, broken towards the lower index
    assert top_k_choices(torch.tensor([3.0, 1.0, 1.0, 2.0]), 3).tolist() == [0, 3, 1]


def test_renormalised_weights_sum_to_one_over_the_kept_experts() -> None:
    # logits [0, ln 2, ln 3]: p = [1, 2, 3] / 6; top-2 keeps experts 2 and 1: [0, 2/5, 3/5]
    router = router_with_bias([0.0, math.log(2.0), math.log(3.0)], top_k=2, renormalize=True)
    weights, _ = router(torch.zeros(1, 1, 1))
    torch.testing.assert_close(weights[0, 0], torch.tensor([0.0, 2 / 5, 3 / 5]))
    plain, _ = router_with_bias([0.0, math.log(2.0), math.log(3.0)], top_k=2)(torch.zeros(1, 1, 1))
    torch.testing.assert_close(plain[0, 0], torch.tensor([0.0, 2 / 6, 3 / 6]))


# ---- capacity ----------------------------------------------------------------------------------


def kept(weights: torch.Tensor) -> list[list[int]]:
    """For each token of sequence 0, the experts with a non-zero weight."""
    return [torch.nonzero(w).flatten().tolist() for w in weights[0]]


def test_capacity_one_drops_every_second_token_to_a_favourite_expert() -> None:
    # E = 2, k = 1, factor 1: accept iff load * 2 < n. All tokens want expert 0:
    # n=1: 0<1 yes (load 1); n=2: 2<2 no; n=3: 2<3 yes (2); n=4: 4<4 no; n=5: 4<5 yes (3); n=6: 6<6 no
    router = one_hot_router(2, capacity_factor=1.0)
    weights, state = router(tokens([0] * 6, 2))
    assert kept(weights) == [[0], [], [0], [], [0], []]
    assert state["load"].tolist() == [[3, 0]] and state["tokens"].tolist() == [6]
    # factor 1.5: load * 2 < 1.5 n: n=1..6 -> yes (1), yes (2), yes (3), 6<6 no, 6<7.5 yes (4), 8<9 yes (5)
    weights, state = one_hot_router(2, capacity_factor=1.5)(tokens([0] * 6, 2))
    assert kept(weights) == [[0], [0], [0], [], [0], [0]]
    assert state["load"].tolist() == [[5, 0]]


def test_capacity_counts_each_expert_separately() -> None:
    # tokens want 0, 0, 1, 0, 0, 0 (E = 2, factor 1: load_e * 2 < n):
    # n=1 e0: 0<1 yes (l0=1); n=2 e0: 2<2 no; n=3 e1: 0<3 yes (l1=1); n=4 e0: 2<4 yes (l0=2);
    # n=5 e0: 4<5 yes (l0=3); n=6 e0: 6<6 no
    router = one_hot_router(2, capacity_factor=1.0)
    x = tokens([0, 0, 1, 0, 0, 0], 2)
    weights, state = router(x)
    assert kept(weights) == [[0], [], [1], [0], [0], []]
    assert state["load"].tolist() == [[3, 1]]
    # the dropped token's weight is exactly 0; a kept one keeps its probability
    p = torch.softmax(torch.tensor([10.0, 0.0]), -1)
    torch.testing.assert_close(weights[0, 0], torch.tensor([p[0], 0.0]))
    assert weights[0, 1].tolist() == [0.0, 0.0]


def test_top_two_capacity_can_drop_both_choices_of_a_token() -> None:
    # E = 3, k = 2, factor 1: load_e * 3 < 2 n. Every token wants experts 0 and 1:
    # n=1: 0<2 both (1, 1); n=2: 3<4 both (2, 2); n=3: 6<6 neither; n=4: 6<8 both (3, 3);
    # n=5: 9<10 both (4, 4); n=6: 12<12 neither
    router = router_with_bias([2.0, 1.0, 0.0], top_k=2, capacity_factor=1.0)
    weights, state = router(torch.zeros(1, 6, 1))
    assert kept(weights) == [[0, 1], [0, 1], [], [0, 1], [0, 1], []]
    assert state["load"].tolist() == [[4, 4, 0]]


def test_capacity_is_counted_per_sequence_across_chunks_steps_and_resets() -> None:
    router = one_hot_router(2, capacity_factor=1.0)
    x = tokens([0] * 6, 2).expand(2, 6, 2).clone()
    whole, _ = router(x)
    first, middle = router(x[:, :3])
    second, _ = router(x[:, 3:], middle)
    assert torch.equal(torch.cat([first, second], 1), whole)
    state, steps = None, []
    for t in range(6):
        y_t, state = router.step(x[:, t], state)
        steps.append(y_t)
    assert torch.equal(torch.stack(steps, 1), whole)
    # sample 1 resets at t=3: its counts start again, so t=3 is accepted (1st token) and t=4 dropped
    resets = torch.zeros(2, 6, dtype=torch.bool)
    resets[1, 3] = True
    weights, _ = router(x, None, resets)
    assert kept(weights) == [[0], [], [0], [], [0], []]
    assert kept(weights[1:]) == [[0], [], [0], [0], [], [0]]


def test_the_dropped_share_is_reported_as_a_metric() -> None:
    router = one_hot_router(2, capacity_factor=1.0)
    with recording(router) as record:
        router(tokens([0] * 6, 2))  # 3 of 6 dropped (see above)
        router(tokens([0, 0, 1, 0, 0, 0], 2))  # 2 of 6 dropped
    torch.testing.assert_close(record.metrics["dropped"], torch.tensor(5 / 12))


# ---- noise ---------------------------------------------------------------------------------------


def noisy_router() -> engrammar.Router:
    torch.manual_seed(0)
    router = engrammar.build("topk_router", in_features=3, num_experts=4, top_k=2, noisy=True)
    with torch.no_grad():  # a noise scale that depends on the input
        router.noise.weight.normal_()
        router.noise.bias.normal_()
    return router


def test_noise_is_drawn_in_training_mode_only() -> None:
    router = noisy_router().eval()
    x = torch.randn(2, 5, 3)
    torch.manual_seed(1)
    first, _ = router(x)
    torch.manual_seed(2)
    second, _ = router(x)
    assert torch.equal(first, second)  # evaluation: no noise, whatever the generator holds
    logits = router.gate(x)
    choice = logits.topk(2).indices
    expected = torch.zeros(2, 5, 4).scatter(-1, choice, torch.softmax(logits, -1).gather(-1, choice))
    torch.testing.assert_close(first, expected)


def test_training_noise_is_the_seeded_gaussian_times_the_learned_scale() -> None:
    router = noisy_router().train()
    x = torch.randn(2, 5, 3)
    torch.manual_seed(7)
    weights, _ = router(x)
    torch.manual_seed(7)
    again, _ = router(x)
    assert torch.equal(weights, again)  # one seed, one draw
    torch.manual_seed(8)
    other, _ = router(x)
    assert not torch.equal(weights, other)
    torch.manual_seed(7)
    eps = torch.randn(2, 5, 4)  # the router's one draw for this call
    logits = router.gate(x) + eps * torch.nn.functional.softplus(router.noise(x))
    choice = logits.topk(2).indices
    expected = torch.zeros(2, 5, 4).scatter(-1, choice, torch.softmax(logits, -1).gather(-1, choice))
    torch.testing.assert_close(weights, expected)
    assert not torch.equal(weights, router.eval()(x)[0])


def test_the_noise_scale_starts_at_ln_2_for_every_expert() -> None:
    router = engrammar.build("topk_router", in_features=3, num_experts=4, noisy=True)
    scale = torch.nn.functional.softplus(router.noise(torch.randn(6, 3)))
    torch.testing.assert_close(scale, torch.full((6, 4), math.log(2.0)))


# ---- auxiliary losses ----------------------------------------------------------------------------


def two_expert_router(**fields) -> engrammar.Router:
    """Logits [x, -x]: p_0 = sigmoid(2x), so x = ln(3)/2 gives p = [3/4, 1/4]."""
    router = engrammar.build("topk_router", in_features=1, num_experts=2, **fields)
    with torch.no_grad():
        router.gate.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        router.gate.bias.zero_()
    return router


def test_load_balance_loss_matches_the_hand_computation() -> None:
    # tokens with p = [3/4, 1/4], [3/4, 1/4], [1/4, 3/4]: top-1 choices 0, 0, 1
    # f = [2/3, 1/3], P = [7/12, 5/12]; loss = w * E * sum f P = 0.5 * 2 * (14/36 + 5/36) = 19/36
    a = math.log(3.0) / 2
    router = two_expert_router(balance_weight=0.5)
    x = torch.tensor([[[a], [a], [-a]]])
    with recording(router) as record:
        router(x)
    torch.testing.assert_close(record.losses["load_balance"], torch.tensor(19 / 36))
    # the same tokens one step at a time, in one recording: one loss over the three tokens
    with recording(router) as record:
        state = None
        for t in range(3):
            _, state = router.step(x[:, t], state)
    torch.testing.assert_close(record.losses["load_balance"], torch.tensor(19 / 36))
    # top-2 of 2: every token selects both, f = [1/2, 1/2]; loss = 0.5 * 2 * (7/24 + 5/24) = 1/2
    both = two_expert_router(balance_weight=0.5, top_k=2)
    with recording(both) as record:
        both(x)
    torch.testing.assert_close(record.losses["load_balance"], torch.tensor(0.5))


def test_the_load_balance_gradient_lowers_the_overloaded_expert() -> None:
    a = math.log(3.0) / 2
    router = two_expert_router(balance_weight=1.0)
    with recording(router) as record:
        router(torch.tensor([[[a], [a], [-a]]]))
    record.losses["load_balance"].backward()
    # expert 0 gets 2/3 of the tokens: raising its logit (the bias) would raise the loss
    assert router.gate.bias.grad[0] > 0 > router.gate.bias.grad[1]


def test_z_loss_matches_the_hand_computation_and_ignores_the_noise() -> None:
    # logits [a, -a] with e^a = sqrt 3: logsumexp = ln(sqrt 3 + 1/sqrt 3) = ln 4 - ln(3)/2 for every token
    a = math.log(3.0) / 2
    router = two_expert_router(balance_weight=0.0, z_loss_weight=0.25)
    with recording(router) as record:
        router(torch.tensor([[[a], [-a]], [[-a], [a]]]))
    assert list(record.losses) == ["z_loss"]  # balance_weight 0 reports nothing
    torch.testing.assert_close(record.losses["z_loss"], torch.tensor(0.25 * (math.log(4.0) - a) ** 2))


def test_nothing_is_computed_without_a_recording() -> None:
    router = two_expert_router(capacity_factor=1.0, z_loss_weight=1.0)
    with recording(torch.nn.Linear(1, 1)) as record:  # a recording of another model
        router(torch.randn(1, 4, 1))
    assert record.losses == {} and record.metrics == {}


# ---- spec errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"top_k": 4}, "topk_router.top_k: must be <= num_experts (3), got 4"),
        ({"top_k": 0}, "topk_router.top_k: must be >= 1, got 0"),
        (
            {"renormalize": True},
            "topk_router.renormalize: needs top_k >= 2: one renormalised weight is always 1, so the router would not learn",
        ),
        ({"capacity_factor": 0.0}, "topk_router.capacity_factor: must be > 0.0, got 0.0"),
        ({"noisy": 1}, "topk_router.noisy: expected bool, got 1"),
    ],
)
def test_bad_fields_are_named(fields, message) -> None:
    with pytest.raises(SpecError) as caught:
        engrammar.build("topk_router", in_features=2, num_experts=3, **fields)
    assert str(caught.value) == message
