"""``xid demo``: the whole story on the embedded default."""

from __future__ import annotations

import click

__all__ = ["demo_command"]


@click.command("demo")
def demo_command() -> None:
    """Tell the whole story on the embedded default, running each step for real."""
    from xid.demo import run

    run()
