"""How passages are encoded: float32, or bfloat16 on CPUs with fast bf16 matrix products (AMX, AVX-512 BF16)."""

from __future__ import annotations

from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_supports_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU advertises AMX-BF16 or AVX-512 BF16 (fast bfloat16 matrix products)."""
    flags = cpu_flags(cpuinfo)
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags the kernel lists for the CPU (empty where it cannot be read)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return frozenset(flags)


def check_precision(requested: str | None) -> str:
    """The requested precision, lower-cased ("auto" for None); ValueError when it is not one of PRECISIONS."""
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    return requested


def resolve_precision(requested: str | None, device: str = "cpu") -> str:
    """"fp32" or "bf16": ``auto`` (the default) means bf16 on a CPU with bf16 instructions, else fp32."""
    requested = check_precision(requested)
    if requested != "auto":
        return requested
    return "bf16" if str(device).startswith("cpu") and cpu_supports_bf16() else "fp32"
