"""The one click group of the ``xid`` command line: lazy subcommands, the output rule and the error contract.

Every group of ``xid`` is an ``XidGroup``. It loads subcommands only when they are run or their help is shown (so
``xid --help`` does not import SQLAlchemy, pyld or web3), and it turns every failure into one line on stderr,
``error [code]: message``, with the exit status of the contract below (``CONTRACT``), never a traceback:

- an ``XidError`` (any package's error) -> its code, exit status 1;
- an ``OSError`` that escapes a command (an output path that cannot be written, a device that vanished)
  -> ``ioError``, exit status 1 (``xid.files`` reports unwritable outputs more precisely as ``cannotWrite``);
- a usage error (bad option, missing argument, an input file that is missing, unreadable, not UTF-8 or not
  JSON) -> ``usageError``, exit status 2, the line ending with where to find help (``(see 'xid ... --help')``).

Commands that fail for a reason of their own (a verification that failed) raise ``CommandFailed`` with their code.
"""

from __future__ import annotations

import errno
import importlib
import json
from collections.abc import Callable, Mapping
from typing import IO, Any, TypeVar

import click

from foundation.errors import XidError

__all__ = ["CONTRACT", "CommandFailed", "UsageFailed", "XidGroup", "echo_json", "json_option"]

CONTRACT = """\b
Output: stdout carries the result, stderr progress and errors.
  A command whose result is a document or token (a DID document, a
  credential, a receipt, a checkpoint) prints it as is. A command whose
  result is a report prints text for people; with --json it prints one
  JSON value instead (ledger append: one JSON object per line). A
  command whose result is a file it writes names the file on stderr.
Exit status: 0 done; 1 the command failed (an xid error, a failed
  verification, an output file that cannot be written); 2 the command
  line is wrong (an option, or an input file that is missing,
  unreadable, not UTF-8 or not JSON).
Errors: one line on stderr, 'error [code]: message'.
"""
"""The output and exit-status rule every ``xid`` command follows (shown by ``xid --help``)."""

F = TypeVar("F", bound=Callable[..., Any])


class CommandFailed(click.ClickException):
    """A command failed: reported as ``error [code]: message`` on stderr with exit status 1."""

    exit_code = 1

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the one error line on stderr."""
        click.echo(f"error [{self.code}]: {self.message}", err=True, file=file)


class UsageFailed(CommandFailed):
    """The command line is wrong: ``error [usageError]: message (see '... --help')``, exit status 2."""

    exit_code = 2


def _usage_failure(exc: click.UsageError) -> UsageFailed:
    ctx = exc.ctx
    if ctx is None:
        return UsageFailed("usageError", exc.format_message())
    names = ctx.help_option_names
    hint = f" (see '{ctx.command_path} {'--help' if '--help' in names else names[0]}')"
    return UsageFailed("usageError", exc.format_message() + hint)


def _os_failure(exc: OSError) -> CommandFailed:
    where = f"{exc.filename}: " if exc.filename else ""
    return CommandFailed("ioError", f"{where}{exc.strerror or type(exc).__name__}")


class XidGroup(click.Group):
    """A click group whose subcommands load lazily and whose errors follow the xid contract (one line, no traceback).

    ``lazy`` maps a subcommand name to ``("module:attribute", "short help")``; the short help is shown by the
    group's ``--help`` without importing the module (``tests/test_cli.py`` checks it matches the command's).
    """

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, str]] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager and lazy subcommand names, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The subcommand, importing its module on first use."""
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module_name, _, attribute = self.lazy[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands with their short help, without importing lazy ones."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy and name not in self.commands:
                rows.append((name, self.lazy[name][1]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        """Parse the group's own options; a usage error becomes the one-line report."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _usage_failure(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, mapping xid errors, OS errors and usage errors to the one-line report."""
        try:
            return super().invoke(ctx)
        except XidError as exc:
            raise CommandFailed(exc.code, exc.message) from None
        except click.UsageError as exc:
            raise _usage_failure(exc) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # stdout closed early (xid ... | head): click exits quietly
                raise
            raise _os_failure(exc) from None


def echo_json(value: Any, *, indent: int | None = 2) -> None:
    """Print a JSON value on stdout (UTF-8 as is; escapes kept where a lone surrogate would make it invalid)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape: keep the escapes, so the output stays valid
        text = json.dumps(value, indent=indent)
    click.echo(text)


def json_option(command: F) -> F:
    """The ``--json`` flag of report commands (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON value for scripts.")(command)
