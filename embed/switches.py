"""semsearch's on-by-default environment switches (SEMSEARCH_KEEP_FREED_MEMORY, SEMSEARCH_FUSED_LINEARS):
one spelling of "off" for all of them."""

from __future__ import annotations

import os
from collections.abc import Mapping

OFF = frozenset({"0", "no", "false", "off"})  # compared stripped and lower-cased


def switched_off(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """True when the variable ``name`` (in ``environ``, default os.environ) says off; unset means on."""
    value = (os.environ if environ is None else environ).get(name, "")
    return value.strip().lower() in OFF
