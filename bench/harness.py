"""A small benchmark harness: calibrated loops, median of repeats, ratios to a floor, table + JSON output."""

from __future__ import annotations

import json
import platform
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Benchmark:
    """One registered benchmark: a setup returning the operation to time, and an optional floor to compare with."""

    group: str
    name: str
    setup: Callable[[], Callable[[], object]]
    floor: str | None = None
    external: Callable[[], tuple[float, float, int] | tuple[float, float, int, str]] | None = None
    """Measures outside this process (e.g. a JavaScript peer); returns (median s, min s, iterations[, detail])."""
    remeasure_floor: bool = False
    """Measure the floor again right before this benchmark (for floors that drift, like a disk's fsync time)."""


class BenchUnavailableError(Exception):
    """A benchmark cannot run here (node or a database server is missing); the message says what is needed."""


@dataclass(frozen=True)
class Result:
    """The measured time of one benchmark and its ratio to its floor."""

    group: str
    name: str
    median_us: float
    min_us: float
    iterations: int
    floor: str | None
    ratio: float | None
    not_run: str | None = None
    """Why the benchmark did not run here (its times are then 0 and it has no ratio)."""
    detail: str | None = None
    """What else the measurement says (a load test: throughput, p99, errors)."""


REGISTRY: list[Benchmark] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for benchmarks that start a server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _no_setup() -> Callable[[], object]:
    raise AssertionError("external benchmarks have no in-process operation")


_External = Callable[[], tuple[float, float, int] | tuple[float, float, int, str]]


def bench_external(group: str, name: str) -> Callable[[_External], None]:
    """Register a benchmark measured by another program; the decorated function returns (median, min, n[, detail])."""

    def register(measure_it: _External) -> None:
        REGISTRY.append(Benchmark(group, name, _no_setup, None, measure_it))

    return register


def bench(
    group: str, name: str, floor: str | None = None, *, remeasure_floor: bool = False
) -> Callable[[Callable[[], Callable[[], object]]], None]:
    """Register a benchmark; the decorated function sets up state and returns the operation to time.

    ``remeasure_floor`` measures the floor again just before this benchmark (after its setup) and computes the
    ratio from that adjacent measurement, which is then shown as its own floor row above it.
    """

    def register(setup: Callable[[], Callable[[], object]]) -> None:
        REGISTRY.append(Benchmark(group, name, setup, floor, remeasure_floor=remeasure_floor))

    return register


def measure(op: Callable[[], object], *, target_s: float = 0.05, repeats: int = 5) -> tuple[float, float, int]:
    """Time op: calibrate a loop count to about target_s, run it ``repeats`` times; return (median, min, n)."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            op()
        elapsed = time.perf_counter() - start
        if elapsed >= target_s / 4 or n >= 1 << 22:
            break
        n *= 4
    n = max(1, int(n * target_s / max(elapsed, 1e-9)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            op()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples), min(samples), n


def run(selected: list[Benchmark], *, target_s: float, progress: Callable[[str], None]) -> list[Result]:
    """Run benchmarks in order, computing ratios against floors measured in the same run."""
    medians: dict[str, float] = {}
    results = []
    by_name = {b.name: b for b in selected}
    for i, b in enumerate(selected, start=1):
        progress(f"[{i}/{len(selected)}] {b.name}")
        detail = None
        if b.external is not None:
            try:
                measured = b.external()
                median, fastest, n = measured[:3]
                detail = measured[3] if len(measured) == 4 else None
            except BenchUnavailableError as exc:
                progress(f"    not run: {exc}")
                results.append(Result(b.group, b.name, 0.0, 0.0, 0, b.floor, None, str(exc)))
                continue
        else:
            try:
                op = b.setup()
            except BenchUnavailableError as exc:
                progress(f"    not run: {exc}")
                results.append(Result(b.group, b.name, 0.0, 0.0, 0, b.floor, None, str(exc)))
                continue
            floor = by_name.get(b.floor or "")
            if b.remeasure_floor and floor is not None and floor.name in medians:
                progress(f"    floor again: {floor.name}")
                median, fastest, n = measure(floor.setup(), target_s=target_s)
                medians[floor.name] = median
                results.append(Result(floor.group, floor.name, median * 1e6, fastest * 1e6, n, None, None))
            median, fastest, n = measure(op, target_s=target_s)
        medians[b.name] = median
        ratio = median / medians[b.floor] if b.floor in medians else None
        results.append(Result(b.group, b.name, median * 1e6, fastest * 1e6, n, b.floor, ratio, detail=detail))
    return results


def table(results: list[Result]) -> str:
    """Format results as a plain-text table."""
    width = max([len("benchmark"), *(len(r.name) for r in results)])
    header = f"{'group':<10} {'benchmark':<{width}} {'median':>12} {'min':>12} {'ratio':>9}  floor / detail"
    lines = [header, "-" * len(header)]
    for r in results:
        if r.not_run is not None:
            lines.append(f"{r.group:<10} {r.name:<{width}} {'not run':>12} {'':>12} {'':>9}  {r.not_run}")
            continue
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        note = "  ".join(part for part in (r.floor, r.detail) if part)
        lines.append(f"{r.group:<10} {r.name:<{width}} {r.median_us:>9.2f} us {r.min_us:>9.2f} us {ratio:>9}  {note}")
    return "\n".join(lines)


def save(results: list[Result], directory: Path) -> Path:
    """Write results (with machine facts) as JSON to a timestamped file and to latest.json; return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    doc = {
        "created": stamp.isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "results": [asdict(r) for r in results],
    }
    path = directory / f"bench-{stamp:%Y%m%d-%H%M%S}.json"
    text = json.dumps(doc, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    (directory / "latest.json").write_text(text, encoding="utf-8")
    return path
