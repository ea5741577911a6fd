"""Validation before building: each error names the node and field it is about."""

from __future__ import annotations

import re
import warnings

import pytest
from engrammar.spec import SpecError
from engrammar.wiring import GraphSpec, UnusedNodeWarning, WiringError, build_wiring, resolve_graph


def graph(nodes: dict, out="head", in_features=4) -> dict:
    return {"name": "t", "in_features": in_features, "nodes": nodes, "out": out}


def error_of(data: dict) -> Exception:
    with pytest.raises((SpecError, WiringError)) as caught:
        build_wiring(data)
    return caught.value


def test_unknown_component_name_is_reported_with_suggestions() -> None:
    err = error_of(graph({"head": {"use": "linaer", "out_features": 2, "in": "x"}}))
    assert isinstance(err, SpecError)
    assert err.path == "nodes.head.use"
    assert "no component named 'linaer'" in str(err)
    assert "did you mean 'linear'" in str(err)


def test_unknown_field_is_reported_with_suggestions() -> None:
    err = error_of(graph({"head": {"use": "ema", "init_decy": 0.5, "in": "x"}}))
    assert err.path == "nodes.head.init_decy"
    assert "unknown field; did you mean 'init_decay'?" in str(err)


def test_invalid_field_value_names_node_and_field() -> None:
    err = error_of(graph({"head": {"use": "ema", "init_decay": 1.5, "in": "x"}}))
    assert str(err).startswith("nodes.head.init_decay: must be in (0.0, 1.0)")


def test_wrongly_typed_field_names_node_and_field() -> None:
    err = error_of(graph({"head": {"use": "linear", "out_features": "8", "in": "x"}}))
    assert err.path == "nodes.head.out_features"


def test_missing_required_field_names_node_and_field() -> None:
    err = error_of(graph({"head": {"use": "linear", "in": "x"}}))
    assert str(err) == "nodes.head.out_features: missing required field"


def test_input_that_names_no_node() -> None:
    err = error_of(
        graph({"mem": {"use": "ema", "in": "x"}, "head": {"use": "linear", "out_features": 2, "in": ["x", "mme"]}})
    )
    assert err.path == "nodes.head.in[1]"
    assert "no node named 'mme'; did you mean 'mem'?" in str(err)


def test_port_input_that_names_no_node() -> None:
    err = error_of(
        graph(
            {
                "mem": {"use": "ema", "in": "x"},
                "head": {"use": "moe", "router": "x", "experts": ["mem", "nope"]},
            }
        )
    )
    assert err.path == "nodes.head.experts[1]"
    assert "no node named 'nope'" in str(err)


def test_output_that_names_no_node() -> None:
    err = error_of(graph({"mem": {"use": "ema", "in": "x"}}, out="men"))
    assert err.path == "out"
    assert "did you mean 'mem'" in str(err)


@pytest.mark.parametrize("text", ["mem@1", "mem@-0", "mem@-x", "1mem", ""])
def test_invalid_reference_syntax(text: str) -> None:
    err = error_of(graph({"mem": {"use": "ema", "in": "x"}, "head": {"use": "ema", "in": ["x", text]}}))
    assert err.path == "nodes.head.in[1]"
    assert "reference" in str(err) or "delay" in str(err)


def test_width_mismatch_in_a_residual_gate_names_the_field() -> None:
    err = error_of(
        graph(
            {
                "proj": {"use": "linear", "out_features": 6, "in": "x"},
                "head": {"use": "residual_gate", "path": "proj", "bypass": "x"},
            }
        )
    )
    assert isinstance(err, WiringError)
    assert err.path == "nodes.head.bypass"
    assert "width 4 does not match path's width 6" in str(err)


def test_width_mismatch_in_a_mixture_names_the_expert() -> None:
    err = error_of(
        graph(
            {
                "wide": {"use": "linear", "out_features": 6, "in": "x"},
                "head": {"use": "moe", "router": "x", "experts": ["x", "wide"]},
            }
        )
    )
    assert err.path == "nodes.head.experts[1]"
    assert "width 6 does not match experts[0]'s width 4" in str(err)


def test_width_mismatch_in_a_sum_names_the_summand() -> None:
    err = error_of(
        graph(
            {
                "wide": {"use": "linear", "out_features": 6, "in": "x"},
                "head": {"use": "sum", "in": ["x", "wide"]},
            }
        )
    )
    assert err.path == "nodes.head.in[1]"


def test_written_in_features_that_contradict_the_inputs() -> None:
    err = error_of(graph({"head": {"use": "linear", "out_features": 2, "in_features": 5, "in": "x"}}))
    assert err.path == "nodes.head.in_features"
    assert "inferred from the inputs (4)" in str(err)


def test_cycle_without_a_delay_lists_the_cycle() -> None:
    err = error_of(
        graph(
            {
                "a": {"use": "linear", "out_features": 3, "in": ["x", "c"]},
                "b": {"use": "linear", "out_features": 3, "in": "a"},
                "c": {"use": "linear", "out_features": 3, "in": "b"},
                "head": {"use": "linear", "out_features": 2, "in": "c"},
            }
        )
    )
    assert isinstance(err, WiringError)
    assert re.match(r"nodes\.(a|b|c)\.in: cycle without a delay: ", str(err))
    cycle = str(err).split("cycle without a delay: ")[1].split(";")[0]
    assert set(cycle.split(" -> ")) == {"a", "b", "c"}
    assert cycle.split(" -> ")[0] == cycle.split(" -> ")[-1]


def test_self_reference_without_delay_is_a_cycle() -> None:
    err = error_of(graph({"head": {"use": "linear", "out_features": 4, "in": ["x", "head"]}}))
    assert "cycle without a delay: head -> head" in str(err)
    assert err.path == "nodes.head.in"


def test_unused_node_is_a_warning_naming_it() -> None:
    data = graph({"spare": {"use": "ema", "in": "x"}, "head": {"use": "linear", "out_features": 2, "in": "x"}})
    with pytest.warns(UnusedNodeWarning, match=r"nodes\.spare: unused"):
        build_wiring(data)


def test_used_nodes_give_no_warning() -> None:
    data = graph({"mem": {"use": "ema", "in": "x"}, "head": {"use": "linear", "out_features": 2, "in": "mem"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_wiring(data)


def test_missing_inputs() -> None:
    err = error_of(graph({"head": {"use": "linear", "out_features": 2}}))
    assert err.path == "nodes.head.in"
    assert "missing" in str(err)


def test_missing_port() -> None:
    err = error_of(graph({"head": {"use": "residual_gate", "path": "x"}}))
    assert err.path == "nodes.head.bypass"


def test_misspelt_port_is_pointed_out() -> None:
    err = error_of(graph({"head": {"use": "moe", "router": "x", "expert": ["x", "x"]}}))
    assert err.path == "nodes.head.experts"
    assert "is 'expert' a misspelling of it?" in str(err)


def test_in_given_to_a_component_with_named_inputs() -> None:
    err = error_of(graph({"head": {"use": "residual_gate", "in": "x", "path": "x", "bypass": "x"}}))
    assert err.path == "nodes.head.in"
    assert "path, bypass" in str(err)


def test_combinator_rule_is_reported_at_the_node() -> None:
    err = error_of(graph({"head": {"use": "moe", "router": "x", "experts": ["x", "x"], "top_k": 3}}))
    assert str(err) == "nodes.head.top_k: must be <= the number of experts (2), got 3"
    err = error_of(graph({"head": {"use": "moe", "router": "x", "experts": []}}))
    assert str(err) == "nodes.head.experts: expected at least one input"


def test_node_named_x_is_refused() -> None:
    err = error_of(graph({"x": {"use": "ema", "in": "x"}}, out="x"))
    assert err.path == "nodes.x"


def test_missing_graph_in_features() -> None:
    err = error_of({"name": "t", "nodes": {"head": {"use": "ema", "in": "x"}}, "out": "head"})
    assert err.path == "in_features"


def test_unknown_top_level_key_gets_a_suggestion() -> None:
    with pytest.raises(SpecError, match=r"^ouput: unknown key; did you mean 'out'\?"):
        GraphSpec.from_data({"in_features": 2, "nodes": {"a": {"use": "ema", "in": "x"}}, "ouput": "a"})


def test_validation_allocates_nothing_and_draws_no_random_numbers() -> None:
    import torch

    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    resolved = resolve_graph(
        GraphSpec.from_data(graph({"head": {"use": "linear", "out_features": 1000, "in": "x"}}, in_features=1000))
    )
    assert torch.equal(torch.rand(1), before)
    assert resolved.nodes["head"].num_parameters == 1000 * 1000 + 1000
