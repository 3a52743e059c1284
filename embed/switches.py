"""semsearch's on-by-default environment switches (SEMSEARCH_KEEP_FREED_MEMORY, SEMSEARCH_FUSED_LINEARS,
SEMSEARCH_AMX_ATTENTION, SEMSEARCH_FUSED_ADD_NORM): one spelling of "off" for all of them."""

from __future__ import annotations

import os
from collections.abc import Mapping

OFF = frozenset({"0", "no", "false", "off"})  # compared stripped and lower-cased


def switched_off(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """True when the variable ``name`` (in ``environ``, default os.environ) says off; unset means on."""
    value = (os.environ if environ is None else environ).get(name, "")
    return value.strip().lower() in OFF


def turned_off(name: str, enabled: bool | None) -> str:
    """Why a feature is off: "turned off" for ``enabled`` False, the variable's value when ``enabled`` is None
    and ``name`` says off, else "" (an explicit True wins over the environment)."""
    if enabled is False:
        return "turned off"
    if enabled is None and switched_off(name):
        return f"turned off ({name}={os.environ[name].strip()})"
    return ""
