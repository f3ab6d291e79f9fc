"""``lambdakit invoke``: run a function once and print its answer."""

from __future__ import annotations

import asyncio
import base64
import json
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
from lambdakit.emulator.errors import EmulatorError
from lambdakit.template import FunctionSpec


@click.command(cls=ProjectCommand)
@function_options
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
) -> None:
    """Invoke a function once: the response goes to stdout, logs and REPORT to stderr.

    Without --endpoint the function runs in a local Lambda started for this call. Exit status:
    0 on success, 1 when the function failed (its error JSON is printed), 2 for a usage error.
    """
    payload = _payload(event_text, event_file)
    if endpoint is not None:
        if selection.function_name is None:
            raise click.UsageError("--endpoint needs --function NAME")
        ok = _invoke_remote(endpoint, selection.function_name, payload)
    else:
        functions = select_functions(selection, warn=warn)
        ok = _invoke_local(_single(functions, selection.path), payload)
    if not ok:
        sys.exit(1)


def _payload(event_text: str | None, event_file: BinaryIO | None) -> bytes:
    if event_text is not None and event_file is not None:
        raise click.UsageError("give either --event or --event-file, not both")
    data = event_text.encode() if event_text is not None else b"{}"
    if event_file is not None:
        data = event_file.read()
    try:
        json.loads(data or b"{}")
    except ValueError as error:
        raise click.UsageError(f"the event is not valid JSON: {error}") from error
    return data


def _single(functions: list[FunctionSpec], path: Path) -> FunctionSpec:
    if len(functions) != 1:
        names = ", ".join(f.name for f in functions)
        raise click.UsageError(
            f"{path} has several functions ({names}); choose one with --function"
        )
    return functions[0]


def _invoke_local(spec: FunctionSpec, payload: bytes) -> bool:
    from lambdakit.emulator import invoke_once

    try:
        result = asyncio.run(invoke_once(spec, payload))
    except EmulatorError as error:
        raise click.ClickException(str(error)) from error
    _print_body(result.body)
    return not result.function_error


def _invoke_remote(endpoint: str, name: str, payload: bytes) -> bool:
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    url = f"{endpoint.rstrip('/')}/2015-03-31/functions/{quote(name, safe='')}/invocations"
    request = urllib.request.Request(
        url, data=payload, method="POST", headers={"X-Amz-Log-Type": "Tail"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            body, headers = response.read(), response.headers
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")
        raise click.ClickException(
            f"{error.code} {error.headers.get('x-amzn-ErrorType', '')}: {detail}"
        ) from error
    except urllib.error.URLError as error:
        raise click.ClickException(f"cannot reach {endpoint}: {error.reason}") from error
    log = headers.get("X-Amz-Log-Result")
    if log:
        sys.stderr.write(base64.b64decode(log).decode("utf-8", "replace"))
    _print_body(body)
    return headers.get("X-Amz-Function-Error") is None


def _print_body(body: bytes) -> None:
    sys.stdout.buffer.write(body)
    if not body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
