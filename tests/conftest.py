"""Shared test helpers: vector loading and the CI rule that a missing component fails instead of skipping."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "vectors"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
