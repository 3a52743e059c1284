"""Build and load semsearch's bfloat16 C kernels (``bf16_kernels.c``, next to this file).

The C file is compiled once per machine with the C compiler (``$CC`` or ``cc``) into
``$XDG_CACHE_HOME/semsearch/kernels`` (default ``~/.cache``), named by a hash of the source, the flags
and the compiler, written atomically, and loaded with ctypes (a ctypes call lets other Python threads
run). Whatever goes wrong (not Linux x86-64, a CPU without AVX-512 BF16, no compiler, a failed build,
an unwritable cache) raises :class:`KernelUnavailable` with the reason, and callers keep torch's own
ops. No torch import here: the kernels take raw pointers, and the callers (embed/attention.py,
embed/addnorm.py) check each kernel against torch before using it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from embed.export import cpu_flags

SOURCE = Path(__file__).with_name("bf16_kernels.c")
CFLAGS = ("-O3", "-shared", "-fPIC", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16",
          "-mfma", "-mamx-tile", "-mamx-bf16")
BASE_CPU_FLAGS = ("avx512bw", "avx512_bf16")  # every kernel needs these; the AMX one also amx_tile, amx_bf16
COMPILE_SECONDS = 120
_P, _I64 = ctypes.c_void_p, ctypes.c_int64
PROTOTYPES = {  # the C functions' argument and result types, declared once when the library is loaded
    "semsearch_amx_ready": ([], ctypes.c_int),
    "semsearch_attend": ([_P, _I64, _I64, _I64] * 3 + [_I64] * 4 + [_P, ctypes.c_float, _P], ctypes.c_int),
    "semsearch_add_layer_norm": ([_P] * 4 + [ctypes.c_float, _I64, _I64, _P], ctypes.c_int),
}

_lock = threading.Lock()
_libraries: dict[str, ctypes.CDLL | KernelUnavailable] = {}  # .so path -> library, or why it cannot be had


class KernelUnavailable(RuntimeError):
    """A C kernel cannot be built, loaded or trusted here; the message says why."""


def missing_cpu_flags(needed: tuple[str, ...] = BASE_CPU_FLAGS) -> str:
    """Why this machine cannot run kernels needing ``needed`` ("" when it can)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "needs Linux on x86-64"
    missing = [flag for flag in needed if flag not in cpu_flags()]
    return f"this CPU lacks {', '.join(missing)}" if missing else ""


def unavailable(needed: tuple[str, ...] = BASE_CPU_FLAGS) -> str:
    """Why kernels needing the CPU flags ``needed`` cannot run here ("" when they can); builds on first use."""
    unfit = missing_cpu_flags(needed)
    if unfit:
        return unfit
    try:
        load_library()
    except KernelUnavailable as error:
        return str(error)
    return ""


def load_library(cache_dir: Path | None = None) -> ctypes.CDLL:
    """The compiled kernels, built on first use; raises KernelUnavailable."""
    with _lock:
        try:
            path = library_path(cache_dir)
        except OSError as error:  # the C source is not installed beside this module
            raise KernelUnavailable(f"its source cannot be read: {error}") from error
        if path not in _libraries:
            try:
                _libraries[path] = _load(_build(Path(path)))
            except KernelUnavailable as error:
                _libraries[path] = error
        found = _libraries[path]
    if isinstance(found, KernelUnavailable):
        raise found
    return found


def library_path(cache_dir: Path | None = None) -> str:
    """Where the library built from this source, with these flags and this compiler, lives."""
    base = cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semsearch" / "kernels"
    digest = hashlib.sha256(SOURCE.read_bytes())
    compiler = _compiler() or ""
    digest.update(" ".join((compiler, *CFLAGS)).encode())
    digest.update(_compiler_version(compiler).encode())
    return str(base / f"bf16_kernels-{digest.hexdigest()[:16]}.so")


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC") or "cc")


@functools.cache
def _compiler_version(compiler: str) -> str:
    if not compiler:
        return ""
    try:
        done = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout.splitlines() or [""])[0]


def _build(target: Path) -> Path:
    """Compile SOURCE into ``target`` unless it is there (written atomically); raises KernelUnavailable."""
    if target.exists():
        return target
    compiler = _compiler()
    if not compiler:
        raise KernelUnavailable(f"no C compiler to build it (set CC or install cc; looked for {os.environ.get('CC') or 'cc'})")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".build-", suffix=".so")
        os.close(fd)
    except OSError as error:
        raise KernelUnavailable(f"cannot write to the kernel cache {target.parent}: {error}") from error
    try:
        done = subprocess.run([compiler, *CFLAGS, "-o", temp, str(SOURCE)], capture_output=True, text=True,
                              timeout=COMPILE_SECONDS)
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or ["no message"])[0][:200]
            raise KernelUnavailable(f"{Path(compiler).name} could not build it: {detail}")
        os.replace(temp, target)
    except (OSError, subprocess.SubprocessError) as error:
        raise KernelUnavailable(f"building it failed: {error}") from error
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target


def _load(path: Path) -> ctypes.CDLL:
    try:
        library = ctypes.CDLL(str(path))
    except OSError as error:
        raise KernelUnavailable(f"could not load {path.name}: {error}") from error
    for name, (argtypes, restype) in PROTOTYPES.items():
        function = getattr(library, name)
        function.argtypes, function.restype = argtypes, restype
    return library
