"""typer's side of the option table (index/cli/options.py): every command that takes one of its options
declares it from here, so `ask`, `related`, `serve`, `mcp` and `watch` read the same flags and help."""

from __future__ import annotations

import typer

from index.cli import options


def typer_option(opt: options.Opt):
    """The typer option of an entry of index/cli/options.py (the table the quick path parses with)."""
    extra = {key: getattr(opt, key) for key in ("min", "max", "envvar") if getattr(opt, key) is not None}
    return typer.Option(opt.default, *opt.flags, help=opt.help, show_default=opt.show_default, **extra)


def command_option(command: str, field: str):
    return typer_option(options.option(command, field))


def command_argument(command: str):
    argument = options.COMMANDS[command][0]
    return typer.Argument(... if argument.required else None, help=argument.help)


IndexDir = typer_option(options.INDEX_DIR)
JsonFlag = typer_option(options.AS_JSON)
Fusion = typer_option(options.FUSION)
