"""Session-wide test settings: the Hypothesis profiles (helpers live in tests/helpers.py)."""

from __future__ import annotations

from hypothesis import settings

from tests.helpers import IN_CI

# Property tests: no per-example deadline anywhere (a loaded machine is not a bug), and in CI the examples are
# derived from each test's source, so a CI failure reproduces exactly; local runs keep exploring new examples.
settings.register_profile("xid", deadline=None)
settings.register_profile("xid-ci", deadline=None, derandomize=True, database=None)
settings.load_profile("xid-ci" if IN_CI else "xid")
