"""``python -m bench``: run the benchmarks, print a table, save JSON under bench/out/."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

import bench
from bench.harness import REGISTRY, run, save, table


def load_all() -> None:
    """Import every bench/bench_*.py module; importing registers its benchmarks."""
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")):
        importlib.import_module(f"bench.{module}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the selected benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("-k", "--filter", default="", help="only benchmarks whose group or name contains this")
    parser.add_argument("--quick", action="store_true", help="shorter loops (a smoke run, noisier numbers)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out", help="directory for JSON results")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ.setdefault("XID_BENCH_LOAD_SECONDS", "10")
    load_all()
    selected = [b for b in REGISTRY if args.filter in b.group or args.filter in b.name]
    if not selected:
        print(f"no benchmark matches {args.filter!r}", file=sys.stderr)
        return 2
    # Floors first, so every ratio compares with a number measured in this same run.
    floors = {b.floor for b in selected if b.floor}
    missing = [b for b in REGISTRY if b.name in floors and b not in selected]
    ordered = missing + selected
    results = run(ordered, target_s=0.01 if args.quick else 0.1, progress=lambda s: print(s, file=sys.stderr))
    print(table(results))
    path = save(results, args.out)
    print(f"\nsaved {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
