"""The ``lambdakit`` command: one module per subcommand, no logic of its own.

Each subcommand translates its flags into one call to the library and maps lambdakit's errors
to exit codes here, in one place: 0 success, 1 failure, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import click

from lambdakit._version import __version__

INTERRUPTED = 130
"""The exit status after Ctrl-C (SIGINT): 128 + 2, what a shell reports for a command that
SIGINT ended, so that scripts and `make` stop too. Nothing else is printed: no traceback,
no click "Aborted."."""


# Subcommands by name, each imported when it is used: `lambdakit invoke` then pays for the
# emulator and the template model only, not for build, image and deploy (a one-shot invoke is
# timed, docs/benchmarks.md). The order is the one `--help` lists.
SUBCOMMANDS = {
    "init": "lambdakit.cli.init",
    "serve": "lambdakit.cli.serve",
    "invoke": "lambdakit.cli.invoke",
    "build": "lambdakit.cli.build",
    "check": "lambdakit.cli.check",
    "deploy": "lambdakit.cli.deploy",
    "delete": "lambdakit.cli.delete",
    "events": "lambdakit.cli.events",
    "image": "lambdakit.cli.image",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (module attribute = command name)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in SUBCOMMANDS:
            module = importlib.import_module(SUBCOMMANDS[cmd_name])
            self.add_command(getattr(module, cmd_name))
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="lambdakit")
def cli() -> None:
    """Python on AWS Lambda custom runtimes.

    The runtime itself is not a subcommand: Lambda starts it through the `bootstrap` script,
    or run it as `python -m lambdakit.runtime module.handler`.
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: the process arguments); return the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort as abort:
        if isinstance(abort.__cause__, KeyboardInterrupt):
            return INTERRUPTED
        click.echo("Aborted.", err=True)  # end of input at a prompt
        return 1
    except KeyboardInterrupt:  # outside a command's own code: while click shows an error
        return INTERRUPTED
    return 0
