"""The wiring combinators as ordinary components: each against a naive oracle, each through the
conformance suite, and the mixture's load-balancing loss."""

from __future__ import annotations

import pytest
import torch
from engrammar.recorder import recording
from engrammar.registry import build
from engrammar.spec import SpecError
from engrammar.testing import conformance_tests

TestConcatConformance = conformance_tests("concat")
TestSumConformance = conformance_tests(
    "sum",
    specs=[{"in_features": 6, "input_sizes": (3, 3)}, {"in_features": 2, "input_sizes": (1, 1)}, {"in_features": 3}],
    in_features=None,
)
TestResidualGateConformance = conformance_tests(
    "residual_gate",
    specs=[{"in_features": 4, "input_sizes": (2, 2)}, {"in_features": 6, "init_bias": 1.5}],
    in_features=None,
)
TestMixtureConformance = conformance_tests(
    "moe",
    specs=[
        {"in_features": 7, "input_sizes": (3, 2, 2)},
        {"in_features": 9, "input_sizes": (3, 2, 2, 2), "top_k": 1},
        {"in_features": 9, "input_sizes": (1, 4, 4), "top_k": 2},
    ],
    in_features=None,
)


def test_concat_is_the_identity_on_its_concatenated_inputs() -> None:
    concat = build("concat", in_features=5)
    x = torch.randn(2, 3, 5)
    assert concat.out_features == 5
    assert torch.equal(concat(x)[0], x)


def test_sum_adds_its_summands() -> None:
    total = build("sum", in_features=6, input_sizes=(2, 2, 2))
    x = torch.randn(2, 3, 6)
    assert total.out_features == 2
    torch.testing.assert_close(total(x)[0], x[..., 0:2] + x[..., 2:4] + x[..., 4:6])


def test_sum_rejects_summands_of_different_widths() -> None:
    with pytest.raises(SpecError, match="one width"):
        build("sum", in_features=5, input_sizes=(2, 3))
    with pytest.raises(SpecError, match="must add up to in_features"):
        build("sum", in_features=5, input_sizes=(2, 2))


def test_residual_gate_matches_its_formula() -> None:
    torch.manual_seed(0)
    gate = build("residual_gate", in_features=6, input_sizes=(3, 3), init_bias=0.5)
    with torch.no_grad():
        gate.gate.weight.normal_()  # leave the zero initialisation so the input matters
    x = torch.randn(2, 4, 6)
    path, bypass = x[..., :3], x[..., 3:]
    g = torch.sigmoid(x @ gate.gate.weight.T + gate.gate.bias)
    torch.testing.assert_close(gate(x)[0], g * path + (1 - g) * bypass)


def test_residual_gate_starts_at_sigmoid_of_its_bias() -> None:
    gate = build("residual_gate", in_features=4, init_bias=2.0)
    x = torch.randn(1, 2, 4)
    g = torch.sigmoid(torch.tensor(2.0))
    torch.testing.assert_close(gate(x)[0], g * x[..., :2] + (1 - g) * x[..., 2:])
    assert torch.all(gate.gate.weight == 0)


def naive_mixture(moe, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token by token: router probabilities, the top-k (or all) experts, their weighted sum; and
    the Switch load-balancing loss over the tokens."""
    r, e, w = moe.router_features, moe.num_experts, moe.width
    tokens = x.reshape(-1, x.shape[-1])
    outputs, probs, shares = [], [], []
    for token in tokens:
        p = torch.softmax(moe.router.weight @ token[:r] + moe.router.bias, dim=-1)
        experts = token[r:].reshape(e, w)
        k = moe.spec.top_k or e
        chosen = sorted(range(e), key=lambda i: -float(p[i].detach()))[:k]
        outputs.append(sum(p[i] * experts[i] for i in chosen))
        share = torch.zeros(e)
        for i in chosen:
            share[i] = 1.0 / k
        probs.append(p)
        shares.append(share if moe.spec.top_k and moe.spec.top_k < e else p.detach())
    mean_p, mean_share = torch.stack(probs).mean(0), torch.stack(shares).mean(0)
    loss = moe.spec.balance_weight * e * (mean_share * mean_p).sum()
    return torch.stack(outputs).reshape(*x.shape[:-1], w), loss


@pytest.mark.parametrize("top_k", [None, 1, 2, 3])
def test_mixture_matches_the_token_by_token_oracle(top_k) -> None:
    torch.manual_seed(0)
    moe = build("moe", in_features=3 + 3 * 2, input_sizes=(3, 2, 2, 2), top_k=top_k, balance_weight=0.5)
    x = torch.randn(2, 5, 9)
    with recording(moe) as record:
        y, _ = moe(x)
    expected, loss = naive_mixture(moe, x)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(record.losses["load_balance"], loss)


def test_mixture_load_balance_is_one_times_weight_when_uniform() -> None:
    moe = build("moe", in_features=5, input_sizes=(1, 2, 2), balance_weight=0.25)
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.bias.zero_()
    with recording(moe) as record:
        moe(torch.randn(3, 4, 5))
    torch.testing.assert_close(record.losses["load_balance"], torch.tensor(0.25))


def test_mixture_top1_router_gets_gradient_from_the_output() -> None:
    moe = build("moe", in_features=5, input_sizes=(1, 2, 2), top_k=1)
    y, _ = moe(torch.randn(2, 3, 5))
    y.sum().backward()
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0


def test_mixture_rejects_bad_sizes() -> None:
    with pytest.raises(SpecError, match="experts must have one width"):
        build("moe", in_features=6, input_sizes=(1, 2, 3))
    with pytest.raises(SpecError, match="needs input_sizes"):
        build("moe", in_features=6)
    with pytest.raises(SpecError, match=r"^moe\.top_k: must be <= the number of experts \(2\), got 3$"):
        build("moe", in_features=5, input_sizes=(1, 2, 2), top_k=3)
