"""The benchmark harness: ratios against floors measured in the same run, table and JSON output."""

from __future__ import annotations

import json
import pkgutil
from collections.abc import Callable
from pathlib import Path

import bench
from bench.harness import Benchmark, BenchUnavailableError, Result, measure, run, save, table


def test_measure_calibrates_and_reports_median() -> None:
    calls = [0]

    def op() -> None:
        calls[0] += 1

    median, fastest, n = measure(op, target_s=0.002, repeats=3)
    assert 0 < fastest <= median
    assert n >= 1
    assert calls[0] >= 3 * n


def test_run_computes_ratios_and_saves(tmp_path: Path) -> None:
    def cheap() -> object:
        return sum(range(10))

    def dear() -> object:
        return sum(range(1000))

    benches = [
        Benchmark("floor", "cheap", lambda: cheap),
        Benchmark("x", "dear", lambda: dear, floor="cheap"),
        Benchmark("x", "orphan", lambda: cheap, floor="not measured"),
    ]
    seen: list[str] = []
    results = run(benches, target_s=0.002, progress=seen.append)
    assert len(seen) == 3
    assert results[0].ratio is None
    assert results[1].ratio is not None
    assert results[1].ratio > 1
    assert results[2].ratio is None
    text = table(results)
    assert "dear" in text
    path = save(results, tmp_path)
    saved = json.loads(path.read_text())
    assert [r["name"] for r in saved["results"]] == ["cheap", "dear", "orphan"]
    assert json.loads((tmp_path / "latest.json").read_text()) == saved


def test_every_registered_benchmark_names_an_existing_floor() -> None:
    from bench.__main__ import load_all
    from bench.harness import REGISTRY

    load_all()
    modules = {f"bench.{m.name}" for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")}
    registering = {(b.external or b.setup).__module__ for b in REGISTRY}
    assert registering == modules, "every bench/bench_*.py registers a benchmark, and only they do"
    names = [b.name for b in REGISTRY]
    assert len(names) == len(set(names)), "benchmark names must be unique"
    missing = {b.floor for b in REGISTRY if b.floor is not None} - set(names)
    assert not missing, f"benchmarks compare with floors nobody registers: {missing}"


def test_external_benchmarks_serve_as_floors_and_may_be_unavailable() -> None:
    from bench.harness import BenchUnavailableError

    def missing() -> tuple[float, float, int]:
        raise BenchUnavailableError("node is not installed")

    def ours() -> object:
        return sum(range(10))

    benches = [
        Benchmark("x", "peer", lambda: ours, external=lambda: (1e-3, 9e-4, 100)),
        Benchmark("x", "ours", lambda: ours, floor="peer"),
        Benchmark("x", "absent peer", lambda: ours, external=missing),
        Benchmark("x", "ours vs absent", lambda: ours, floor="absent peer"),
    ]
    seen: list[str] = []
    results = run(benches, target_s=0.002, progress=seen.append)
    assert [(r.name, r.not_run) for r in results] == [
        ("peer", None),
        ("ours", None),
        ("absent peer", "node is not installed"),
        ("ours vs absent", None),
    ]
    assert results[0].median_us == 1000.0
    assert results[1].ratio is not None
    assert results[1].ratio < 1
    assert results[3].ratio is None
    assert any("not run: node is not installed" in line for line in seen)


def test_a_benchmark_that_cannot_run_here_says_why_in_the_table(tmp_path: Path) -> None:
    def unavailable() -> Callable[[], object]:
        raise BenchUnavailableError("needs a database server (set XID_BENCH_DATABASE_URL)")

    benches = [
        Benchmark("floor", "cheap", lambda: lambda: None),
        Benchmark("x", "needs a server", unavailable, floor="cheap"),
    ]
    results = run(benches, target_s=0.002, progress=lambda _: None)
    assert [(r.name, r.not_run) for r in results] == [
        ("cheap", None),
        ("needs a server", "needs a database server (set XID_BENCH_DATABASE_URL)"),
    ]
    row = table(results).splitlines()[-1]
    assert "needs a server" in row
    assert "not run" in row
    assert row.endswith("needs a database server (set XID_BENCH_DATABASE_URL)")
    saved = json.loads(save(results, tmp_path).read_text())
    assert saved["results"][1]["not_run"] == "needs a database server (set XID_BENCH_DATABASE_URL)"


def test_the_load_test_runs_its_mixed_workload_without_errors() -> None:
    """bench.load against a real ``xid serve``: every journey kind happens (a login through the OIDC facade with its
    consent form included), each counted, and none fails."""
    from bench.load import JOURNEYS, run_load

    report = run_load(workers=1, seconds=3, concurrency=2)
    assert report.errors == []
    for kind, _ in JOURNEYS:
        assert report.latencies.get(kind), f"the load made no {kind} journey"
    assert set(report.latencies) == {"enrollment", "presentation", "login"}
    assert report.consents >= 1, "no login went through the consent form (a person's first login at the RP)"
    assert 0 < report.percentile(0.5) <= report.percentile(0.99)
    assert "0 errors" in report.summary()


def test_a_load_row_carries_its_detail_into_the_table() -> None:
    results = [Result("load", "mixed", 1000.0, 900.0, 5, None, None, detail="5.0 journeys/s, 0 errors")]
    assert "5.0 journeys/s, 0 errors" in table(results)
