"""Run every benchmark and write its table to benchmarks/results/."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "benchmarks.bench_identity",
    "benchmarks.bench_grid",
    "benchmarks.bench_flows",
    "benchmarks.bench_provenance",
    "benchmarks.bench_governance",
    "benchmarks.bench_web",
    "benchmarks.bench_economy",
    "benchmarks.bench_films",
    "benchmarks.bench_market",
    "benchmarks.bench_camera",
    "benchmarks.bench_engine",
    "benchmarks.bench_realtime",
]


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", module, *sys.argv[1:]])
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
