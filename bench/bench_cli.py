"""Whole-process wall time of the ``xid`` command, compared with starting Python at all (``python -c pass``).

People run ``xid`` many times a day and scripts call it in loops, so what counts is the time from exec to exit:
interpreter start, imports, work. Targets (on the reference 2-core machine): ``xid --help`` within 150 ms and
``xid did resolve <did:key>`` within 300 ms; the table shows each as a ratio to the floor measured in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.harness import bench

DID_KEY = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
_HOME = tempfile.mkdtemp(prefix="xid-bench-cli-")


def _xid() -> list[str]:
    """The installed console script when there is one (what people run), else the module."""
    script = Path(sys.executable).parent / "xid"
    return [str(script)] if script.exists() else [sys.executable, "-m", "xid.cli"]


def _process(argv: list[str]) -> Callable[[], object]:
    env = {**os.environ, "XID_HOME": _HOME}

    def run() -> object:
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
        return done

    run()  # once before timing: fails fast, and warms the page cache like a command run many times a day
    return run


@bench("cli", "python -c pass (process floor)")
def _python_floor() -> Callable[[], object]:
    return _process([sys.executable, "-c", "pass"])


@bench("cli", "xid --help", floor="python -c pass (process floor)")
def _help() -> Callable[[], object]:
    return _process([*_xid(), "--help"])


@bench("cli", "xid did resolve did:key:...", floor="python -c pass (process floor)")
def _resolve_did_key() -> Callable[[], object]:
    return _process([*_xid(), "did", "resolve", DID_KEY])


@bench("cli", "xid vc --help", floor="python -c pass (process floor)")
def _vc_help() -> Callable[[], object]:
    return _process([*_xid(), "vc", "--help"])
