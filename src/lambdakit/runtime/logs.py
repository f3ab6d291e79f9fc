"""The function's logs: where they go, how records look, and the bridge to ``logging``.

Formats follow awslambdaric (bootstrap.py, lambda_runtime_log_utils.py) byte for byte, except
that JSON records carry millisecond timestamps (awslambdaric issue #156): CloudWatch, log
subscriptions and Powertools parse these lines.

- TEXT: ``[LEVEL]\\t2026-11-27T18:15:16.770Z\\t<request id>\\t<message>\\n``.
- JSON (``AWS_LAMBDA_LOG_FORMAT=JSON``): ``{"timestamp", "level", "message", "logger", ...,
  "requestId", "tenantId"?, extras}``.
- With ``_LAMBDA_TELEMETRY_LOG_FD`` set, each record is one frame on that descriptor:
  ``type:u32 | length:u32 | timestamp_us:u64 | payload`` (big-endian), the type encoding the
  format and the level.

``logging`` costs ~6 ms and ~1.5 MB to import, so the runtime does not import it: a finder on
``sys.meta_path`` waits for user code to import it and then installs the root handler, before
the importing module goes on. A function that never logs never pays for it.
"""

from __future__ import annotations

import os
import sys
import time

from lambdakit.runtime.context import REQUEST_ID, TENANT_ID

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

# Frame types by level bucket (0, 10, ..., 50), TEXT and JSON (lambda_runtime_log_utils.py).
TEXT_FRAMES = {
    0: 0xA55A0003, 10: 0xA55A000B, 20: 0xA55A000F, 30: 0xA55A0013, 40: 0xA55A0017, 50: 0xA55A001B,
}  # fmt: skip
JSON_FRAMES = {
    0: 0xA55A0002, 10: 0xA55A000A, 20: 0xA55A000E, 30: 0xA55A0012, 40: 0xA55A0016, 50: 0xA55A001A,
}  # fmt: skip
LEVELS = {
    "CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARN": 30, "WARNING": 30,
    "INFO": 20, "DEBUG": 10, "TRACE": 10, "NOTSET": 0,
}  # fmt: skip
LEVEL_NAMES = {50: "CRITICAL", 40: "ERROR", 30: "WARNING", 20: "INFO", 10: "DEBUG", 0: "NOTSET"}
WARNING = 30

# The record written before every init error (awslambdaric lambda_literals.py).
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START "
    "log entry. If this error correlates with a change in the runtime version, you may be able "
    "to mitigate this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)


class LogSettings:
    """``AWS_LAMBDA_LOG_FORMAT`` and ``AWS_LAMBDA_LOG_LEVEL``, read once."""

    __slots__ = ("json", "level")

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.json = environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
        # TRACE is Lambda's finest level and Python's DEBUG; unknown names leave Python's
        # default (WARNING) in force, as awslambdaric does.
        level = environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
        self.level: int | None = LEVELS.get(level)

    def frame_type(self, levelno: int) -> int:
        """The telemetry frame type of a record at ``levelno``."""
        bucket = min(50, max(0, levelno)) // 10 * 10
        if self.json:
            return JSON_FRAMES[bucket]
        # TEXT records carry their level in the frame only when a log level is configured.
        return TEXT_FRAMES[bucket] if self.level is not None else TEXT_FRAMES[0]

    def enabled(self, levelno: int) -> bool:
        return levelno >= (self.level if self.level is not None else WARNING)


class StdoutSink:
    """Writes records to standard output (what Lambda captures when there is no telemetry fd)."""

    def write(self, text: str, frame_type: int | None = None) -> None:
        sys.stdout.write(text)

    def write_error(self, lines: Sequence[str], frame_type: int) -> None:
        # One CloudWatch event per error: Lambda splits stdout on \n, not on \r.
        sys.stdout.write("\r".join(lines) + "\n")
        sys.stdout.flush()


class FramedSink:
    """Writes each record as one frame on the telemetry descriptor, in a single write(2)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, text: str, frame_type: int | None = None) -> None:
        payload = text.encode("utf-8", "backslashreplace")
        header = (frame_type or TEXT_FRAMES[0]).to_bytes(4, "big") + len(payload).to_bytes(4, "big")
        stamp = (time.time_ns() // 1000).to_bytes(8, "big")
        os.write(self.fd, header + stamp + payload)

    def write_error(self, lines: Sequence[str], frame_type: int) -> None:
        self.write("\n".join(lines), frame_type)


def open_sink(environ: dict[str, str] | os._Environ[str]) -> StdoutSink | FramedSink:
    """The telemetry sink if Lambda gave one (the variable is consumed, as awslambdaric does,
    so that child processes do not write frames into it), else standard output."""
    fd = environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    if fd is not None and fd.isdigit():
        return FramedSink(int(fd))
    return StdoutSink()


def timestamp(seconds: float, *, milliseconds: bool = True) -> str:
    """``2026-11-27T18:15:16.770Z`` (UTC)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if milliseconds:
        text += ".%03d" % (int(seconds * 1000) % 1000)
    return text + "Z"


def text_record(levelname: str, created: float, message: str) -> str:
    """A record in awslambdaric's TEXT format, request id from the current invocation."""
    return f"[{levelname}]\t{timestamp(created)}\t{REQUEST_ID.get()}\t{message}\n"


def json_record(fields: dict[str, object]) -> str:
    """A JSON record: ``None`` values dropped, unknown types written with ``str()``."""
    from lambdakit.runtime.marshal import dumps

    return (
        dumps({k: v for k, v in fields.items() if v is not None}, compact=False, default=str) + "\n"
    )


class Logs:
    """The runtime's log output: its sink, its settings, and the records it writes itself."""

    def __init__(self, sink: StdoutSink | FramedSink, settings: LogSettings) -> None:
        self.sink = sink
        self.settings = settings

    def warning(self, message: str) -> None:
        """A WARNING record from the runtime itself, formatted as a root-logger record."""
        if not self.settings.enabled(WARNING):
            return
        now = time.time()
        if self.settings.json:
            text = json_record(
                {"timestamp": timestamp(now), "level": "WARNING", "message": message,
                 "logger": "root", "requestId": REQUEST_ID.get(), "tenantId": TENANT_ID.get()}
            )  # fmt: skip
        else:
            text = text_record("WARNING", now, message)
        self.sink.write(text, self.settings.frame_type(WARNING))

    def error(self, document: Mapping[str, object]) -> None:
        """The record of an unhandled error (awslambdaric ``log_error``)."""
        frame_type = self.settings.frame_type(40)
        if self.settings.json:
            fields = {"timestamp": timestamp(time.time()), "level": "ERROR", **document}
            self.sink.write_error([json_record(fields).rstrip("\n")], frame_type)
            return
        self.sink.write_error(error_lines(document), frame_type)

    def context_log(self, message: str) -> None:
        """``context.log()``: the text as is, in a default-type frame when framed."""
        self.sink.write(message, TEXT_FRAMES[0])


def error_lines(document: Mapping[str, object]) -> list[str]:
    """``[ERROR] Type: message``, ``Traceback ...`` and the frames, indented with U+00A0."""
    error_type = document.get("errorType")
    message = document.get("errorMessage")
    head = "[ERROR]"
    if error_type:
        head += f" {error_type}"
    if message:
        head += (":" if error_type else "") + f" {message}"
    lines = [head, "Traceback (most recent call last):"]
    stack = document.get("stackTrace")
    for frame in stack if isinstance(stack, list) else ():
        if frame == "":
            lines.append("")
            continue
        for line in str(frame).splitlines():
            stripped = line.lstrip(" ")
            lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    return lines


# --- the bridge to the logging module -------------------------------------------------------


class _LoggingImportHook:
    """A ``sys.meta_path`` finder that configures ``logging`` the moment it is first imported."""

    def __init__(self, logs: Logs) -> None:
        self.logs = logs

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        loader = getattr(spec, "loader", None)
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module
        logs = self.logs

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            _install_handler(logs)

        loader.exec_module = exec_module
        return spec


def install_logging(logs: Logs) -> None:
    """Give the root logger the Lambda handler now, or as soon as ``logging`` is imported."""
    if "logging" in sys.modules:
        _install_handler(logs)
    else:
        sys.meta_path.insert(0, _LoggingImportHook(logs))


def _install_handler(logs: Logs) -> None:
    from lambdakit.runtime import logbridge

    logbridge.install(logs)


def configure_stdio() -> None:
    """Make ``print()`` reach the log at once without one write(2) per fragment.

    awslambdaric flushes after every write() (4 syscalls for ``print("a", "b")``); line
    buffering writes each line once, and the loop flushes what is left after every invocation.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=False)


def flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken by user code: nothing to save
            pass
