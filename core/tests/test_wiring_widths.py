"""Width inference in loops: a loop with a node whose output width does not depend on its input
(a linear layer) is inferred wherever its delayed edge enters, in any declaration order; a loop in
which every width follows its input is rejected with the cycle named."""

from __future__ import annotations

from typing import Any

import engrammar
import pytest
import torch
from engrammar.builtin.linear import Linear
from engrammar.spec import SpecError
from engrammar.wiring import WiringError, build_wiring
from engrammar.wiring.widths import GUESSES


def graph(nodes: dict[str, Any], out: str, in_features: int = 3) -> dict[str, Any]:
    return {"name": "loops", "in_features": in_features, "nodes": nodes, "out": out}


#: name -> (nodes, out, {node: (in_features, out_features)}), with x of width 3
LOOPS: dict[str, tuple[dict[str, Any], str, dict[str, tuple[int, int]]]] = {
    "delay enters the width-following node": (
        {
            "smooth": {"use": "ema", "in": ["x", "proj@-1"]},
            "proj": {"use": "linear", "out_features": 4, "in": "smooth"},
        },
        "proj",
        {"smooth": (7, 7), "proj": (7, 4)},
    ),
    "delay enters the fixed node": (
        {
            "proj": {"use": "linear", "out_features": 4, "in": ["x", "smooth@-1"]},
            "smooth": {"use": "ema", "in": "proj"},
        },
        "smooth",
        {"proj": (7, 4), "smooth": (4, 4)},
    ),
    "fixed node in the middle of three": (
        {
            "a": {"use": "ema", "in": ["x", "c@-1"]},
            "b": {"use": "linear", "out_features": 5, "in": "a"},
            "c": {"use": "ema", "in": "b"},
        },
        "c",
        {"a": (8, 8), "b": (8, 5), "c": (5, 5)},
    ),
    "delay of two entering a follower": (
        {
            "a": {"use": "ema", "in": ["x", "c@-2"]},
            "b": {"use": "ema", "in": "a"},
            "c": {"use": "linear", "out_features": 2, "in": "b"},
        },
        "c",
        {"a": (5, 5), "b": (5, 5), "c": (5, 2)},
    ),
    "fixed node reading itself": (
        {"a": {"use": "linear", "out_features": 3, "in": ["x", "a@-1"]}},
        "a",
        {"a": (6, 3)},
    ),
    "nested loops, the inner one entered at a follower": (
        {
            "ctrl": {"use": "ema", "in": ["x", "head@-1"]},
            "inner_a": {"use": "ema", "in": ["ctrl", "inner_b@-1"]},
            "inner_b": {"use": "linear", "out_features": 2, "in": "inner_a"},
            "head": {"use": "linear", "out_features": 6, "in": ["inner_a", "inner_b"]},
        },
        "head",
        {"ctrl": (9, 9), "inner_a": (11, 11), "inner_b": (11, 2), "head": (13, 6)},
    ),
    "two loops sharing one fixed node": (
        {
            "m2": {"use": "ema", "in": ["hub", "m1"]},
            "m1": {"use": "ema", "in": "hub"},
            "hub": {"use": "linear", "out_features": 4, "in": ["x", "m1@-1", "m2@-1"]},
        },
        "m2",
        {"hub": (15, 4), "m1": (4, 4), "m2": (8, 8)},
    ),
    "a loop fed by another loop": (
        {
            "late": {"use": "ema", "in": ["early", "late_fix@-1"]},
            "late_fix": {"use": "linear", "out_features": 1, "in": "late"},
            "early": {"use": "ema", "in": ["x", "early_fix@-1"]},
            "early_fix": {"use": "linear", "out_features": 2, "in": "early"},
        },
        "late_fix",
        {"early": (5, 5), "early_fix": (5, 2), "late": (6, 6), "late_fix": (6, 1)},
    ),
    "a combinator in the loop": (
        {
            "gate": {"use": "residual_gate", "path": "mem", "bypass": "proj"},
            "mem": {"use": "ema", "in": "proj"},
            "proj": {"use": "linear", "out_features": 4, "in": ["x", "gate@-1"]},
        },
        "gate",
        {"proj": (7, 4), "mem": (4, 4), "gate": (8, 4)},
    ),
}


def _widths(data: dict[str, Any]) -> dict[str, tuple[int, int]]:
    built = build_wiring(data)
    return {name: (node.in_features, node.out_features) for name, node in built.resolved.nodes.items()}


@pytest.mark.parametrize("case", sorted(LOOPS))
def test_loop_widths_are_inferred_wherever_the_delay_enters(case: str) -> None:
    nodes, out, expected = LOOPS[case]
    assert _widths(graph(nodes, out)) == expected
    reversed_order = dict(reversed(list(nodes.items())))
    assert _widths(graph(reversed_order, out)) == expected  # declaration order does not matter


@pytest.mark.parametrize("case", sorted(LOOPS))
def test_an_inferred_loop_runs_and_steps_to_the_same_outputs(case: str) -> None:
    nodes, out, expected = LOOPS[case]
    torch.manual_seed(0)
    built = build_wiring(graph(nodes, out))
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    built = built.double()
    y, _ = built(x)
    assert y.shape == (2, 5, expected[out][1])
    state = None
    for t in range(5):
        y_t, state = built.step(x[:, t], state)
        torch.testing.assert_close(y_t, y[:, t])


def test_the_issue_wiring_builds_both_ways_round() -> None:
    follower_first = graph(
        {
            "smooth": {"use": "ema", "in": ["x", "proj@-1"]},
            "proj": {"use": "linear", "out_features": 4, "in": "smooth"},
        },
        "proj",
    )
    fixed_first = graph(
        {
            "proj": {"use": "linear", "out_features": 4, "in": "smooth@-1"},
            "smooth": {"use": "ema", "in": ["x", "proj"]},
        },
        "proj",
    )
    assert build_wiring(follower_first).out_features == build_wiring(fixed_first).out_features == 4


def error_of(data: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        build_wiring(data)
    return caught.value


def test_loop_of_followers_only_is_rejected_naming_the_cycle() -> None:
    err = error_of(graph({"a": {"use": "ema", "in": ["x", "b@-1"]}, "b": {"use": "ema", "in": "a"}}, "b"))
    assert isinstance(err, WiringError)  # the former name catches it too
    assert err.path == "nodes.a.in[1]"  # where the delayed edge that closes the loop is written
    assert str(err).startswith(
        "nodes.a.in[1]: cannot infer the widths in the loop a -> b -> a: every node in it has an output "
        "width that depends on its input width"
    )


def test_follower_reading_itself_is_rejected_naming_it() -> None:
    err = error_of(graph({"a": {"use": "ema", "in": ["x", "a@-1"]}}, "a"))
    assert str(err).startswith("nodes.a.in[1]: cannot infer the widths in the loop a -> a: ")


def test_longer_loop_of_followers_names_every_node_in_data_order() -> None:
    err = error_of(
        graph(
            {
                "c": {"use": "ema", "in": "b"},
                "a": {"use": "ema", "in": ["x", "c@-1"]},
                "b": {"use": "sum", "in": ["a", "a"]},
            },
            "c",
        )
    )
    assert err.path == "nodes.a.in[1]"
    assert "in the loop a -> b -> c -> a:" in str(err)


def test_inner_loop_without_a_fixed_node_is_rejected_inside_one_that_has_one() -> None:
    err = error_of(
        graph(
            {
                "ctrl": {"use": "linear", "out_features": 4, "in": ["x", "b@-1"]},
                "a": {"use": "ema", "in": ["ctrl", "b@-1"]},
                "b": {"use": "ema", "in": "a"},
            },
            "b",
        )
    )
    assert err.path == "nodes.a.in[1]"
    assert "in the loop a -> b -> a:" in str(err)


def test_a_mistake_in_a_loop_node_is_reported_as_itself() -> None:
    err = error_of(
        graph(
            {
                "a": {"use": "ema", "in": ["x", "b@-1"]},
                "b": {"use": "linear", "out_features": 0, "in": "a"},
            },
            "b",
        )
    )
    assert str(err) == "nodes.b.out_features: must be >= 1, got 0"


class Capped(Linear):
    """Output width 4 up to an input width of 9, the input width beyond: it fools the guesses."""

    @property
    def out_features(self) -> int:
        return 4 if self.in_features <= max(GUESSES) + 1 else self.in_features


def test_a_probed_width_is_checked_against_the_real_inputs() -> None:
    engrammar.register("layers", "capped_for_test")(Capped)
    try:
        err = error_of(
            graph(
                {
                    "c": {"use": "capped_for_test", "out_features": 1, "in": ["x", "e@-1"]},
                    "e": {"use": "linear", "out_features": 20, "in": "c"},
                },
                "e",
                in_features=1,
            )
        )
    finally:
        engrammar.unregister("capped_for_test")
    assert str(err).startswith("nodes.c: output width 21 differs from the width 4 it gave for every guessed")
