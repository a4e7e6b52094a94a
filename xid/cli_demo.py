"""``xid demo``: the story of what xid can do so far."""

from __future__ import annotations

import click

__all__ = ["demo_command"]


@click.command("demo")
def demo_command() -> None:
    """Tell the story of what xid can do so far, running each step for real."""
    from xid.demo import run

    run()
