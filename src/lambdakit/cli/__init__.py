"""The ``lambdakit`` command: one module per subcommand, no logic of its own.

Each subcommand translates its flags into one call to the library and maps lambdakit's errors
to exit codes here, in one place: 0 success, 1 failure, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from lambdakit._version import __version__

INTERRUPTED = 130
"""The exit status after Ctrl-C (SIGINT): 128 + 2, what a shell reports for a command that
SIGINT ended, so that scripts and `make` stop too. Nothing else is printed: no traceback,
no click "Aborted."."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="lambdakit")
def cli() -> None:
    """Python on AWS Lambda custom runtimes.

    The runtime itself is not a subcommand: Lambda starts it through the `bootstrap` script,
    or run it as `python -m lambdakit.runtime module.handler`.
    """


def _register() -> None:
    from lambdakit.cli.build import build
    from lambdakit.cli.check import check
    from lambdakit.cli.delete import delete
    from lambdakit.cli.deploy import deploy
    from lambdakit.cli.events import events
    from lambdakit.cli.image import image
    from lambdakit.cli.init import init
    from lambdakit.cli.invoke import invoke
    from lambdakit.cli.serve import serve

    cli.add_command(init)
    cli.add_command(serve)
    cli.add_command(invoke)
    cli.add_command(build)
    cli.add_command(check)
    cli.add_command(deploy)
    cli.add_command(delete)
    cli.add_command(events)
    cli.add_command(image)


_register()


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
