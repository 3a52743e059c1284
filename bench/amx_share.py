"""How steady is the matrix throughput here? GFLOP/s of one matrix product per process, alone and two at once.

    python -m bench.amx_share [--seconds 3] [--repeats 3]

Each process multiplies (4096 x 384) by (384 x 1536), the shape of a MiniLM feed-forward linear on a batch of
32 x 128 tokens, on one thread, in bfloat16 (AMX where the CPU has it) and in float32 (AVX-512), first
alone, then as two processes at the same time, ``--repeats`` times in turn. It shows what the encoding
benchmarks can only suggest: on this project's shared 2-core machine bf16 throughput moves by up to 2x from
one repeat to the next (other tenants' use of the same physical cores, as far as can be told from inside),
float32 barely at all, and two processes at once get anywhere from 1.0x to 2.4x one (measured; see the
notes of issue #4). So bf16/fp32 ratios are only meaningful when measured in interleaved rounds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

SHAPE = (4096, 384, 1536)  # tokens, hidden, intermediate


def measure(dtype_name: str, seconds: float) -> float:
    """GFLOP/s of repeated products for about ``seconds`` on one thread."""
    import torch

    torch.set_num_threads(1)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    m, k, n = SHAPE
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    torch.mm(a, b)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(a, b)
        done += 1
    return 2 * m * k * n * done / (time.perf_counter() - started) / 1e9


def run_processes(dtype_name: str, count: int, seconds: float) -> list[float]:
    command = [sys.executable, "-m", "bench.amx_share", "--child", dtype_name, "--seconds", str(seconds)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    return [float(child.communicate()[0]) for child in children]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=("bf16", "fp32"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(measure(args.child, args.seconds))
        return
    print(f"one thread per process, ({SHAPE[0]} x {SHAPE[1]}) @ ({SHAPE[1]} x {SHAPE[2]}), {args.seconds:g} s each")
    for repeat in range(1, args.repeats + 1):
        for dtype_name in ("bf16", "fp32"):
            alone = run_processes(dtype_name, 1, args.seconds)[0]
            pair = run_processes(dtype_name, 2, args.seconds)
            print(f"  {repeat}  {dtype_name}: alone {alone:6.0f} GFLOP/s   two at once {pair[0]:5.0f} + {pair[1]:5.0f} "
                  f"= {sum(pair):6.0f} GFLOP/s   ({sum(pair) / alone:.2f}x one)", flush=True)


if __name__ == "__main__":
    main()
