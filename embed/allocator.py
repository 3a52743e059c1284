"""Keep freed memory in the process while encoding, then give it back (glibc malloc only).

Why: every batch of a forward pass allocates and frees tens of MB of activations. With glibc's defaults
those blocks go back to the OS when freed (blocks above the mmap threshold are unmapped, and the top of a
heap is trimmed once 128 KiB are free there), so the next batch touches fresh pages that the kernel must
fault in and zero, in both workers at once. While encoding, freed blocks are kept for reuse instead:
measured (bench/allocator_ab.py and the notes of issue #4), one call encoding 256 passages of 128 tokens
in bf16 went from 115k-235k page faults to 29k (each worker's first batch), 600 SciFact passages from
664k to 145k. On leaving, the free memory is given back (``malloc_trim``) and the settings are left where
glibc's own moving thresholds settle after a forward pass. Only memory the encoding already used is
kept, so peak memory does not grow (measured, whole process after 128 and 256 tokens: 1,002 MiB kept,
1,064 MiB with glibc's defaults).

The settings are process-wide: nested or concurrent encodings share them and the last one out restores.
Nothing is changed when the C library is not glibc, or when the user configured malloc themselves
(``GLIBC_TUNABLES`` with ``glibc.malloc.*``, or a ``MALLOC_*_`` variable), or when
``SEMSEARCH_KEEP_FREED_MEMORY=0``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from embed.switches import switched_off

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # mallopt(3) parameter numbers
MIB = 1 << 20
WHILE_ENCODING = {M_MMAP_THRESHOLD: 32 * MIB, M_TRIM_THRESHOLD: 1024 * MIB, M_TOP_PAD: 64 * MIB}
# Where glibc's own moving thresholds settle once it has freed blocks of 32 MiB or more (mmap threshold at its
# 32 MiB ceiling, trim threshold twice that, top pad at its default): setting any of them stops the moving.
AFTER_ENCODING = {M_TRIM_THRESHOLD: 64 * MIB, M_TOP_PAD: 128 * 1024}
OPT_OUT = "SEMSEARCH_KEEP_FREED_MEMORY"
USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_")

_lock = threading.Lock()
_depth = 0


@contextlib.contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """Within the block, glibc malloc keeps freed memory for reuse; yields whether it was switched on."""
    global _depth
    libc = _glibc() if wanted(os.environ) else None
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            _set(libc, WHILE_ENCODING)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(libc, AFTER_ENCODING)
                libc.malloc_trim(0)


def wanted(environ: Mapping[str, str]) -> bool:
    """False when the user opted out, or set malloc up themselves."""
    if switched_off(OPT_OUT, environ):
        return False
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return False
    return not any(name in environ for name in USER_SETTINGS)


def _glibc() -> Any:
    """The C library with mallopt and malloc_trim, or None (not glibc, or symbols missing)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def _set(libc: Any, settings: dict[int, int]) -> None:
    for parameter, value in settings.items():
        libc.mallopt(parameter, value)  # returns 0 on a refused value; glibc then keeps its own
