"""What the user reads when a command stops: one line and an exit code, for both entry paths.

``friendly_errors`` (index/cli/output.py, typer and rich) and ``present.answer`` (the cold path, neither)
both call ``error_message``, so a library error reads the same whichever path answered.
"""

from __future__ import annotations

from embed.errors import SemsearchError

HANDLED = (SemsearchError, KeyboardInterrupt)  # anything else is a bug: its traceback is wanted
INTERRUPTED = "interrupted; the index is as it was before this run"


def error_message(exc: BaseException) -> tuple[str, str, int]:
    """(label, one-line message, exit code) for a SemsearchError or an interrupt (Ctrl-C)."""
    if isinstance(exc, KeyboardInterrupt):
        return "", INTERRUPTED, 130
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return "error:", " ".join(line.strip() for line in lines), 1
