"""Files named on the command line: read them as UTF-8 text or JSON, with one clear error for each way they fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

__all__ = ["parse_json", "read_json", "read_text"]


def read_text(path: Path, param_hint: str) -> str:
    """The file's UTF-8 text; click.BadParameter (exit status 2) when it cannot be read or decoded."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=param_hint) from None
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path} is not UTF-8 text (byte {exc.start})", param_hint=param_hint) from None


def parse_json(text: str, where: str, param_hint: str) -> Any:
    """Parse JSON text; click.BadParameter naming ``where`` when it is not JSON this tool can hold."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{where} is not JSON: {exc.msg} (line {exc.lineno})", param_hint=param_hint) from None
    except (ValueError, RecursionError):  # an integer of thousands of digits, or nesting deeper than Python's stack
        raise click.BadParameter(
            f"{where} is JSON nested too deeply or with a number too long to read", param_hint=param_hint
        ) from None


def read_json(path: Path, param_hint: str) -> Any:
    """The file's content parsed as JSON; click.BadParameter when it cannot be read or parsed."""
    return parse_json(read_text(path, param_hint), str(path), param_hint)
