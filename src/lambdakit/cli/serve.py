"""``lambdakit serve``: a local Lambda serving a project's functions until Ctrl-C."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lambdakit.cli._common import ProjectCommand, Selection, function_options, select_project
from lambdakit.cli._common import warn as _warn
from lambdakit.cli._debug import debug_options
from lambdakit.emulator.concurrency import ACCOUNT_LIMIT
from lambdakit.emulator.debugging import DebugRequest
from lambdakit.emulator.errors import EmulatorError

if TYPE_CHECKING:
    from lambdakit.emulator.webconsole import EventSources


@click.command(
    cls=ProjectCommand, short_help="Run a local Lambda: Invoke API, Function URLs, APIs."
)
@function_options
@debug_options()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=9000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the Invoke API (0 picks a free port).",
)
@click.option(
    "--api-port",
    type=click.IntRange(0, 65535),
    help="Port of the template's REST and HTTP APIs, all on one listener, as `sam local "
    "start-api` serves them (default: 3000; 0 when --port is 0; 0 picks a free port).",
)
@click.option(
    "--url-port",
    type=click.IntRange(0, 65535),
    help="Port of the first Function URL; the others follow it (default: --port + 1; 0 picks "
    "free ports).",
)
@click.option(
    "--concurrency",
    default=ACCOUNT_LIMIT,
    show_default=True,
    type=click.IntRange(min=1),
    help="The account's concurrency limit: invocations in flight across all functions "
    "(Lambda's default quota); beyond it synchronous invocations get 429.",
)
@click.option(
    "--watch", is_flag=True, help="Restart a function's environments when its code changes."
)
@click.option(
    "--url",
    "urls",
    is_flag=True,
    help="Give every function without FunctionUrlConfig a Function URL (BUFFERED).",
)
@click.option(
    "--event-retry-delays",
    default="1,2",
    show_default=True,
    metavar="S,S",
    help="Seconds between the attempts of a failed Event invocation (Lambda: about 60,120).",
)
@click.option(
    "--account-id",
    metavar="ID",
    callback=lambda _c, _p, v: _matching(v, r"\d{12}", "--account-id", "12 digits"),
    help="The account the emulator models, in the ARNs it gives and accepts "
    "(default: the AWS::AccountId parameter override, else 123456789012).",
)
@click.option(
    "--region",
    metavar="R",
    callback=lambda _c, _p, v: _matching(v, _REGION, "--region", "a region such as eu-west-1"),
    help="The region the emulator models (default: the AWS::Region parameter override, "
    "else AWS_REGION, AWS_DEFAULT_REGION, us-east-1).",
)
@click.option(
    "--no-console",
    "no_console",
    is_flag=True,
    help="Do not serve the browser console (http://127.0.0.1:PORT/_lambdakit/console/).",
)
def serve(
    selection: Selection,
    host: str,
    port: int,
    api_port: int | None,
    url_port: int | None,
    concurrency: int,
    watch: bool,
    urls: bool,
    event_retry_delays: str,
    account_id: str | None,
    region: str | None,
    debug: DebugRequest,
    no_console: bool,
) -> None:
    """Serve the Invoke API for the functions in PATH.

    PATH is a project directory with a template.yaml (all its functions), a template file, or
    a function directory (a `bootstrap`, or Python code with --handler, default app.handler).
    boto3, the AWS CLI and curl work against the printed URL:

    \b
        aws lambda invoke --endpoint-url http://127.0.0.1:9000 --region us-east-1 \\
            --no-sign-request --function-name NAME out.json

    The template's API Gateway APIs (Events of Type Api and HttpApi, AWS::Serverless::Api and
    HttpApi, OpenAPI definitions) are served on --api-port, e.g. curl http://127.0.0.1:3000/hello

    A console in the browser shows the functions, their environments, invocations and logs,
    and invokes them with saved test events: open the printed Console URL (--no-console: none).
    """
    from lambdakit.emulator import serve as run_server
    from lambdakit.template import UrlConfig

    chosen = select_project(selection, warn=_warn, region=region)
    functions = chosen.functions
    if urls:
        functions = [f if f.url else dataclasses.replace(f, url=UrlConfig()) for f in functions]
    try:
        _event_loop_policy()
        asyncio.run(
            run_server(
                functions, host=host, port=port, concurrency=concurrency, watch=watch,
                state_dir=_state_dir(selection.path), retry_delays=_delays(event_retry_delays),
                account_id=account_id or chosen.parameters.get("AWS::AccountId"),
                region=chosen.parameters.get("AWS::Region") or region,
                apis=chosen.apis, api_port=api_port, url_port=url_port, debug=debug,
                console_sources=None if no_console else _console_sources(selection.path),
            )
        )  # fmt: skip
    except EmulatorError as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:  # not a listener's (those are EmulatorErrors that say which)
        where = f": {error.filename}" if error.filename else ""
        raise click.ClickException(f"{error.strerror or error}{where}") from error
    except KeyboardInterrupt:
        # Ctrl-C before the server's own handlers are in place, or after they are gone (the
        # last moments of shutdown): stop as a shell expects, without a traceback.
        raise SystemExit(130) from None


def _event_loop_policy() -> None:
    """uvloop when it is installed (`pip install 'lambdakit[fast]'`): the emulator's HTTP and
    process plumbing run on libuv, measurably faster (docs/benchmarks.md)."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d"  # botocore's pattern of a region in an ARN


def _matching(value: str | None, pattern: str, flag: str, what: str) -> str | None:
    if value is not None and re.fullmatch(pattern, value) is None:
        raise click.BadParameter(f"{value!r}: give {what}", param_hint=flag)
    return value


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        delays = ()
    if len(delays) != 2 or min(delays) < 0:
        raise click.BadParameter(
            f"{text!r}: give two delays in seconds, e.g. 1,2", param_hint="--event-retry-delays"
        )
    return delays


def _console_sources(path: Path) -> EventSources:
    """The console's test events: the project's, and the samples of `lambdakit events`."""
    from lambdakit.emulator.webconsole import EventSources
    from lambdakit.project.events import SOURCES, sample_event

    base = path if path.is_dir() else path.parent
    return EventSources(
        project_dir=base.absolute(), samples=tuple(SOURCES), load_sample=sample_event
    )


def _state_dir(path: Path) -> Path:
    base = path if path.is_dir() else path.parent
    return base / ".lambdakit"
