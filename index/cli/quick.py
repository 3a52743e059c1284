"""The `semsearch` entry point: plain `ask` / `related` command lines skip typer and rich.

A cold question spends most of its time importing. typer (click, pydantic) and rich add ~0.25 s, so
``main`` first tries ``parse``: a small parser that reads the same table typer's `ask` and `related`
are built from (index/cli/options.py) and gives up (returns None) on anything else -- --help, an
unknown option, a missing or bad value, a wrong number of arguments -- so typer handles those as it
always has, with its own help and error messages. tests/test_quick.py checks both parsers agree on a
table of command lines.
"""

from __future__ import annotations

import os
import sys

from index.cli.options import COMMANDS, convert, flags
from index.cli.present import Request


def split_option(token: str, options: dict) -> tuple[str, str | None] | None:
    """'--mode=dense' -> ('--mode', 'dense'); '-k3' -> ('-k', '3'); '--json' -> ('--json', None)."""
    if token in options:
        return token, None
    name, eq, value = token.partition("=")
    if eq and name.startswith("--") and name in options:
        return name, value
    if token.startswith("-k") and not token.startswith("--") and len(token) > 2 and "-k" in options:
        return "-k", token[2:]
    return None


def parse(argv: list[str]) -> Request | None:
    """A Request for a plain `ask` / `related` command line, None for anything typer should handle."""
    if not argv or argv[0] not in COMMANDS:
        return None
    command, options = argv[0], flags(argv[0])
    fields: dict = {}
    positional: list[str] = []
    rest = iter(argv[1:])
    for token in rest:
        if token == "--":
            positional.extend(rest)
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        found = split_option(token, options)
        if found is None:
            return None  # --help, unknown options: typer's job
        name, text = found
        opt = options[name]
        if not opt.cold:
            return None
        if not opt.takes_value:
            if text is not None:
                return None
            fields[opt.field] = True
            continue
        text = next(rest, None) if text is None else text
        value = None if text is None else convert(opt, text)
        if value is None:
            return None  # a missing or bad value: typer prints the usage error
        fields[opt.field] = value
    return build_request(command, positional, fields)


def build_request(command: str, positional: list[str], fields: dict) -> Request | None:
    argument, options = COMMANDS[command]
    if len(positional) > 1 or (argument.required and not positional):
        return None
    if positional:
        fields[argument.field] = positional[0]
    if command == "related" and ("passage_id" in fields) == ("text" in fields):
        return None  # typer's command prints the usage error
    for opt in options:  # as click reads an environment variable: an empty one counts as unset
        if opt.envvar and opt.field not in fields and os.environ.get(opt.envvar):
            fields[opt.field] = convert(opt, os.environ[opt.envvar])
    return Request(command, **fields)


def main() -> None:
    """Console-script entry point: the quick path for plain questions, typer for everything else."""
    request = parse(sys.argv[1:])
    if request is None:
        from index.cli.app import main as typer_main

        typer_main()
        return
    # A question multiplies a few dozen small matrices: OpenBLAS threads only spin against each other
    # (17 ms on one thread, 430 ms on two when another process holds a core). Set before numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from index.cli.present import answer

    sys.exit(answer(request))


if __name__ == "__main__":
    main()
