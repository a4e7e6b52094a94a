"""Composition root: settings, the ``xid`` command line and the demo. Nothing imports this package."""

__version__ = "0.1.0"
