"""Runtime settings read from the environment (one typed object, no globals)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Where xid keeps its state; more settings join as services arrive."""

    home: Path

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from XID_HOME (default ./.xid)."""
        return cls(home=Path(os.environ.get("XID_HOME", ".xid")))

    @property
    def keys_dir(self) -> Path:
        """Directory of private key files."""
        return self.home / "keys"
