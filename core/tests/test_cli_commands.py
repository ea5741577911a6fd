"""Subcommands come from the entry-point group ``engrammar.commands``; a first-party command whose
distribution is not installed is one line naming it, exit 2."""

from __future__ import annotations

import argparse
import types
from typing import Any

import engrammar
import pytest
from engrammar.cli import PROVIDED_BY, installed_commands, list_cmd, main


def core_only() -> dict[str, Any]:
    """The command table of an environment with core alone."""
    return {name: loader for name, loader in installed_commands().items() if name in ("list", "describe", "build")}


def test_core_registers_list_describe_and_build_as_entry_points() -> None:
    commands = installed_commands()
    assert {"list", "describe", "build"} <= set(commands)
    assert commands["list"]() is list_cmd


@pytest.mark.parametrize("command", ["train", "eval", "audit"])
def test_a_command_of_a_missing_distribution_names_it_in_one_line(command, capsys) -> None:
    assert main([command, "examples/lstm_dnc.yaml", "--task", "copy"], commands=core_only()) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: `engrammar {command}` is provided by engrammar-train: pip install engrammar-train\n"
    assert PROVIDED_BY[command] == "engrammar-train"


def test_an_unknown_command_is_argparse_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["trian"], commands=core_only())
    assert exit_info.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


def test_any_distribution_can_add_a_command(capsys) -> None:
    calls: list[argparse.Namespace] = []

    def add_parser(subparsers: Any) -> None:
        subparsers.add_parser("hello", help="say hello").add_argument("name")

    def run(args: argparse.Namespace) -> int:
        calls.append(args)
        print(f"hello {args.name}")
        return 0

    module = types.SimpleNamespace(add_parser=add_parser, run=run)
    assert main(["hello", "world"], commands={**core_only(), "hello": lambda: module}) == 0
    assert capsys.readouterr().out == "hello world\n" and calls[0].name == "world"


def test_a_command_that_fails_to_load_leaves_the_others_working(capsys) -> None:
    def broken() -> Any:
        raise ImportError("No module named 'missing_dependency'")

    assert main(["list", "layers"], commands={**core_only(), "broken": broken}) == 0
    captured = capsys.readouterr()
    assert "linear" in captured.out
    assert "command 'broken' could not be loaded: ImportError: No module named 'missing_dependency'" in captured.err


def test_engrammar_train_attribute_names_the_distribution() -> None:
    with pytest.raises(
        AttributeError, match=r"engrammar.train is provided by engrammar-train: pip install engrammar-train"
    ):
        engrammar.train  # noqa: B018
