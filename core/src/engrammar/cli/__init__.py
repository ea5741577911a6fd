"""The ``engrammar`` command. Subcommands come from the entry-point group ``engrammar.commands``
(core registers ``list``, ``describe`` and ``build``; ``engrammar-train`` adds ``train``,
``eval`` and ``bench``), so any installed distribution can add its own. An entry point names a module with
``add_parser(subparsers)`` and ``run(args) -> int``; such modules must not import torch at import
time (``engrammar list`` stays fast), only inside ``run``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["GROUP", "PROVIDED_BY", "installed_commands", "installed_distributions", "main", "version_text"]

GROUP = "engrammar.commands"

#: First-party commands that another distribution provides: a missing one is named with its pip command.
PROVIDED_BY = dict.fromkeys(("train", "eval", "audit", "bench"), "engrammar-train")

#: A command: its module, or a function that imports it (an entry point's ``load``).
Command = Any | Callable[[], Any]


def installed_commands() -> dict[str, Callable[[], Any]]:
    """Command name -> loader of its module, from the installed distributions' metadata (nothing is
    imported). When two distributions register one name, the first found is kept and the other is
    reported on stderr."""
    from importlib.metadata import entry_points

    found: dict[str, Callable[[], Any]] = {}
    owners: dict[str, str] = {}
    for entry in entry_points(group=GROUP):
        owner = entry.dist.name if entry.dist is not None else "?"
        if entry.name in found:
            if owners[entry.name] != owner:
                print(f"warning: command {entry.name!r} of {owner} is hidden by {owners[entry.name]}", file=sys.stderr)
            continue
        found[entry.name], owners[entry.name] = entry.load, owner
    return found


def installed_distributions() -> list[tuple[str, str]]:
    """(name, version) of core and of every installed distribution that registers an entry point
    in an ``engrammar.*`` group (plugins, first-party or not), core first, then by name. Reads
    metadata only."""
    from importlib.metadata import distributions, version

    found = {
        dist.metadata["Name"]: dist.version
        for dist in distributions()
        if any(entry.group.startswith("engrammar.") for entry in dist.entry_points)
    }
    core = found.pop("engrammar", None) or version("engrammar")
    return [("engrammar", core), *sorted(found.items(), key=lambda item: item[0].lower())]


def version_text() -> str:
    """What ``engrammar --version`` prints: core's version, then each plugin's, one per line."""
    core, *plugins = installed_distributions()
    return "\n".join([f"{core[0]} {core[1]}", *(f"  {name} {version}" for name, version in plugins)])


def _parser(commands: Mapping[str, Command]) -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    parser = argparse.ArgumentParser(
        prog="engrammar", description="Stateful sequence components: " + ", ".join(sorted(commands)) + "."
    )
    parser.add_argument("--version", action="store_true", help="print the versions of core and the plugins, and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, Any] = {}
    for name in sorted(commands):
        command = commands[name]
        try:
            module = command() if callable(command) else command
        except Exception as err:  # a broken plugin loses its command, never the others
            print(f"warning: command {name!r} could not be loaded: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        module.add_parser(subparsers)
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None, commands: Mapping[str, Command] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) with ``commands`` (default: the
    installed ones). Returns the exit status: 2 for bad input, with one line on stderr."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = installed_commands() if commands is None else commands
    if argv and argv[0] not in commands and argv[0] in PROVIDED_BY:
        dist = PROVIDED_BY[argv[0]]
        print(f"error: `engrammar {argv[0]}` is provided by {dist}: pip install {dist}", file=sys.stderr)
        return 2
    parser, modules = _parser(commands)
    args = parser.parse_args(argv)
    if args.version:
        print(version_text())
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    from engrammar.registry import RegistryError
    from engrammar.spec import SpecError

    try:
        return int(modules[args.command].run(args) or 0)
    except (SpecError, RegistryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if _is_user_error(err):
            print(f"error: {err}", file=sys.stderr)
            return 2
        raise


def _is_user_error(err: Exception) -> bool:
    # Errors raised on purpose for bad input carry this marker (wiring errors, say).
    return bool(getattr(err, "user_error", False))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
