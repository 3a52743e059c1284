"""The `semsearch` entry point: plain `ask` / `related` command lines skip typer and rich.

A cold question spends most of its time importing. typer (click, pydantic) and rich add ~0.25 s, so
``main`` first tries ``parse``: a small parser that accepts exactly the options index/cli.py declares
for `ask` and `related` and gives up (returns None) on anything else -- --help, an unknown option, a
missing or bad value, a wrong number of arguments -- so typer handles those as it always has, with
its own help and error messages. tests/test_quick.py checks both parsers agree on a table of command
lines, so the two cannot drift apart silently.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from index.cli.present import Request

# option -> (Request field, takes a value); per command, as declared in index/cli.py
COMMON = {
    "-k": ("k", True), "--top": ("k", True), "--mode": ("mode", True), "--fusion": ("fusion", True),
    "--index": ("index_dir", True), "--json": ("as_json", False),
}
OPTIONS = {
    "ask": COMMON,
    "related": {**COMMON, "--text": ("text", True), "--other-articles": ("other_articles", False)},
}
POSITIONAL = {"ask": "query", "related": "passage_id"}
INDEX_ENV = "SEMSEARCH_INDEX"


def split_option(token: str, options: dict) -> tuple[str, str | None] | None:
    """'--mode=dense' -> ('--mode', 'dense'); '-k3' -> ('-k', '3'); '--json' -> ('--json', None)."""
    if token in options:
        return token, None
    name, eq, value = token.partition("=")
    if eq and name.startswith("--") and name in options:
        return name, value
    if token.startswith("-k") and not token.startswith("--") and len(token) > 2:
        return "-k", token[2:]
    return None


def parse(argv: list[str]) -> Request | None:
    """A Request for a plain `ask` / `related` command line, None for anything typer should handle."""
    if not argv or argv[0] not in OPTIONS:
        return None
    command, options = argv[0], OPTIONS[argv[0]]
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
        name, value = found
        field, takes_value = options[name]
        if not takes_value:
            if value is not None:
                return None
            fields[field] = True
            continue
        value = next(rest, None) if value is None else value
        if value is None:
            return None
        fields[field] = value
    return build_request(command, positional, fields)


def build_request(command: str, positional: list[str], fields: dict) -> Request | None:
    if len(positional) > 1 or (command == "ask" and not positional):
        return None
    if positional:
        fields[POSITIONAL[command]] = positional[0]
    if command == "related" and ("passage_id" in fields) == ("text" in fields):
        return None  # typer's command prints the usage error
    if "k" in fields:
        if not fields["k"].strip().lstrip("+-").isdigit() or int(fields["k"]) < 1:
            return None
        fields["k"] = int(fields["k"])
    index_dir = fields["index_dir"] if "index_dir" in fields else os.environ.get(INDEX_ENV) or None  # click
    fields["index_dir"] = Path(index_dir) if index_dir is not None else None  # ignores an empty variable
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
