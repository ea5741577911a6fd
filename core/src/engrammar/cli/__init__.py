"""The ``engrammar`` command. Each subcommand is a module ``<name>_cmd`` in this package with
``add_parser(subparsers)`` and ``run(args) -> int``; modules must not import torch at import time
(``engrammar list`` stays fast), only inside ``run``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = ("list", "describe", "build", "train", "eval")


def _parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="engrammar", description="Stateful sequence components: list, describe, build, train."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"engrammar.cli.{name}_cmd")
        except ModuleNotFoundError as err:
            if err.name == f"engrammar.cli.{name}_cmd":
                continue  # that command is not part of this build
            raise
        module.add_parser(subparsers)
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from engrammar import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    from engrammar.registry import RegistryError
    from engrammar.spec import SpecError

    try:
        return int(modules[args.command].run(args) or 0)  # type: ignore[attr-defined]
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
