"""The load test: enrollments, presentations and OIDC logins against ``xid serve`` with 1 and 2 workers.

Each row runs ``bench.load.run_load`` for ``XID_BENCH_LOAD_SECONDS`` (60 by default; ``--quick`` makes it 10) at 8
concurrent virtual users on loopback only. The median column is the p50 journey latency, min the fastest journey,
and the detail says throughput, p99 and the number of errors (the target is zero). A mixed workload has no single
floor, so these rows have no ratio; the bare-endpoint scaling floor is the verifier group's uvicorn rows.
"""

from __future__ import annotations

import os

from bench.harness import bench_external
from bench.load import run_load

CONCURRENCY = 8


def _seconds() -> float:
    return float(os.environ.get("XID_BENCH_LOAD_SECONDS", "60"))


for _workers in (1, 2):

    @bench_external("load", f"mixed enroll/present/login journeys, xid serve {_workers} worker(s), {CONCURRENCY} users")
    def _load(workers: int = _workers) -> tuple[float, float, int, str]:
        report = run_load(workers, _seconds(), CONCURRENCY)
        latencies = sorted(v for values in report.latencies.values() for v in values)
        fastest = latencies[0] if latencies else 0.0
        return report.percentile(0.5), fastest, report.journeys, report.summary()
