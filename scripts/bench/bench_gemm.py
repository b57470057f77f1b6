#!/usr/bin/python3
"""Times torch's float32 1024x1024 @ 1024x1024 matmul (torch 1.13 from
Debian, whose BLAS is the system libblas: OpenBLAS with
libopenblas0-pthread) with torch.set_num_threads(1) and (2), and prints
the best call's GFLOPS of each, one line each:

    torch threads=N best_GFLOPS=X mean_GFLOPS=Y calls=Z

plus a line naming the BLAS library loaded into the process. Called by
scripts/bench/bench_gemm.sh; usage: bench_gemm.py [CALLS]
"""
import sys
import time

import torch

N = 1024
FLOPS = 2.0 * N * N * N


def loaded_blas():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            name = path.rsplit("/", 1)[-1]
            if "blas" in name.lower() or "mkl" in name.lower():
                libs.add(path)
    return sorted(libs)


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    torch.manual_seed(0)
    a = torch.randn(N, N, dtype=torch.float32)
    b = torch.randn(N, N, dtype=torch.float32)
    torch.mm(a, b)
    config = torch.__config__.show()
    blas = loaded_blas()
    print("torch %s BLAS_INFO=%s loaded=%s" % (
        torch.__version__,
        next((p.split("=")[1] for p in config.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?"),
        ",".join(blas) or "none"))
    if not any("openblas" in p.lower() for p in blas):
        print("warning: OpenBLAS is not loaded: torch uses another BLAS", file=sys.stderr)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for _ in range(3):
            torch.mm(a, b)
        best, total = float("inf"), 0.0
        for _ in range(calls):
            t0 = time.perf_counter()
            torch.mm(a, b)
            dt = time.perf_counter() - t0
            best = min(best, dt)
            total += dt
        print("torch threads=%d best_GFLOPS=%.2f mean_GFLOPS=%.2f calls=%d" % (
            threads, FLOPS / best / 1e9, FLOPS * calls / total / 1e9, calls))


if __name__ == "__main__":
    main()
