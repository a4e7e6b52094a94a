"""Shared test helpers: vector loading and the CI rule that a missing component fails instead of skipping."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

VECTORS = Path(__file__).parent / "vectors"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests: no per-example deadline anywhere (a loaded machine is not a bug), and in CI the examples are
# derived from each test's source, so a CI failure reproduces exactly; local runs keep exploring new examples.
settings.register_profile("xid", deadline=None)
settings.register_profile("xid-ci", deadline=None, derandomize=True, database=None)
settings.load_profile("xid-ci" if IN_CI else "xid")


def load_vector(relative: str) -> Any:
    """Load a JSON vector file from tests/vectors/."""
    return json.loads((VECTORS / relative).read_text(encoding="utf-8"))


def require_component(available: bool, component: str) -> None:
    """Skip locally, fail in CI, when a component a test needs is missing."""
    if available:
        return
    message = f"missing component: {component}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing component is a failure, see .ci/run)")
    pytest.skip(message)
