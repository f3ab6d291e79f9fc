"""``lambdakit invoke``: run a function once and print its answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import click

from lambdakit.cli._common import (
    ProjectCommand,
    Selection,
    function_options,
    select_functions,
    warn,
)
from lambdakit.cli._debug import debug_options
from lambdakit.emulator.debugging import DebugRequest
from lambdakit.emulator.errors import EmulatorError
from lambdakit.template import FunctionSpec


@click.command(
    cls=ProjectCommand, short_help="Run a function once: answer on stdout, logs on stderr."
)
@function_options
@debug_options(terminal=True)
@click.option("--event", "event_text", metavar="JSON", help="The event, as JSON text.")
@click.option(
    "--event-file",
    type=click.File("rb"),
    help="Read the event from a file ('-' for standard input).",
)
@click.option(
    "--endpoint", metavar="URL", help="Invoke a running `lambdakit serve` (or Lambda) at URL."
)
def invoke(
    selection: Selection,
    event_text: str | None,
    event_file: BinaryIO | None,
    endpoint: str | None,
    debug: DebugRequest,
) -> None:
    """Invoke a function once: the response goes to stdout, logs and REPORT to stderr.

    A streamed response is printed as the function produces it; an HTTP one's status, headers
    and cookies go to stderr, its body to stdout. Without --endpoint the function runs in a
    local Lambda started for this call. Exit status: 0 on success, 1 when the function failed
    (its error JSON is printed), 2 for a usage error.
    """
    payload = _payload(event_text, event_file)
    try:
        if endpoint is not None:
            ok = _invoke_remote(endpoint, _endpoint_function(selection), payload)
        else:
            functions = select_functions(selection, warn=warn)
            ok = _invoke_local(_single(functions, selection.path), payload, debug)
    except BrokenPipeError:  # stdout's reader left (`| head`): stop quietly, as `cat` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush
        sys.exit(128 + signal.SIGPIPE)
    if not ok:
        sys.exit(1)


def _endpoint_function(selection: Selection) -> str:
    """--function, or the template's one function: the name a running server knows it by."""
    if selection.function_name is not None:
        return selection.function_name
    from lambdakit.template import TemplateError, select

    try:
        functions = select(
            selection.path, command="invoke", parameter_overrides=selection.parameter_overrides,
            config_env=selection.config_env, config_file=selection.config_file,
        ).functions  # fmt: skip
    except TemplateError as error:
        raise click.UsageError(f"--endpoint needs --function NAME ({error})") from error
    return _single(functions, selection.path).name


def _payload(event_text: str | None, event_file: BinaryIO | None) -> bytes:
    if event_text is not None and event_file is not None:
        raise click.UsageError("give either --event or --event-file, not both")
    data = event_text.encode() if event_text is not None else b"{}"
    if event_file is not None:
        if event_file.isatty():
            click.echo(
                "lambdakit: reading the event from the terminal; end it with Ctrl-D", err=True
            )
        data = event_file.read()
    if not data.strip():
        return b"{}"  # as the Invoke API (and Lambda) pass an empty payload
    try:
        json.loads(data, parse_constant=_no_constants)
    except ValueError as error:
        raise click.UsageError(f"the event is not valid JSON: {error}") from error
    return data


def _no_constants(token: str) -> object:
    """JSON (RFC 8259) has no NaN or Infinity; Python reads them, the Invoke API refuses them."""
    raise ValueError(f"{token} is not JSON")


def _single(functions: list[FunctionSpec], path: Path) -> FunctionSpec:
    if len(functions) != 1:
        names = ", ".join(f.name for f in functions)
        raise click.UsageError(
            f"{path} has several functions ({names}); choose one with --function"
        )
    return functions[0]


def _invoke_local(spec: FunctionSpec, payload: bytes, debug: DebugRequest | None = None) -> bool:
    from lambdakit.cli._streaming import BodyWriter
    from lambdakit.emulator import invoke_once

    writer = BodyWriter(sys.stdout.buffer, sys.stderr)
    try:
        result = asyncio.run(invoke_once(spec, payload, on_chunk=writer.chunk, debug=debug))
    except EmulatorError as error:
        raise click.ClickException(str(error)) from error
    if result.stream is None:
        _print_body(result.body)
    else:  # streamed: the body is out already
        writer.finish(result.body if result.function_error else None)
    return not result.function_error


def _invoke_remote(endpoint: str, name: str, payload: bytes) -> bool:
    """InvokeWithResponseStream, which answers streaming functions as they stream and the
    others in one PayloadChunk (docs/emulator.md "Streaming"), with the log tail."""
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    from lambdakit.cli._streaming import BodyWriter, StreamBroken, read_event_stream

    path = f"/2021-11-15/functions/{quote(name, safe='')}/response-streaming-invocations"
    request = urllib.request.Request(
        endpoint.rstrip("/") + path, data=payload, method="POST",
        headers={"X-Amz-Log-Type": "Tail"},
    )  # fmt: skip
    writer = BodyWriter(sys.stdout.buffer, sys.stderr)
    try:
        with urllib.request.urlopen(request) as response:
            content_type = response.headers.get("Content-Type", "")
            done = read_event_stream(lambda: response.read1(65536), content_type, writer)
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")
        raise click.ClickException(
            f"{error.code} {error.headers.get('x-amzn-ErrorType', '')}: {detail}"
        ) from error
    except urllib.error.URLError as error:
        raise click.ClickException(f"cannot reach {endpoint}: {error.reason}") from error
    except (StreamBroken, OSError) as error:
        raise click.ClickException(f"{endpoint}: {error}") from error
    failed = done.error_code is not None
    writer.finish((done.error_details or done.error_code or "").encode() if failed else None)
    sys.stderr.write(done.log)
    return not failed


def _print_body(body: bytes) -> None:
    sys.stdout.buffer.write(body)
    if not body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
