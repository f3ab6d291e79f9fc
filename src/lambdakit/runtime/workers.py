"""Lambda Managed Instances: ``AWS_LAMBDA_MAX_CONCURRENCY`` worker processes in one environment.

Each worker is a forked process with its own Runtime API connection, its own handler import
and its own loop; nothing of one invocation can leak into another worker's (Powertools and
most libraries assume one invocation per process at a time). The parent only supervises:

- an init error is reported by exactly one worker: the parent puts a single token in a pipe
  and only the worker that reads it posts to /init/error;
- SIGTERM is passed on to every worker, so each runs its ``on_shutdown`` hooks;
- with ``on_shutdown`` hooks, exactly one worker registers the internal extension that gives
  the environment a shutdown phase (``shutdown_phase``; one more single-token pipe), and no
  worker calls ``/next`` before every worker has finished init (a pipe whose write end each
  worker closes then: its end of file is the barrier), so the registration is in before
  Lambda closes it;
- when a worker dies the parent stops the others and exits with that worker's status, so that
  Lambda replaces the environment rather than running it at reduced concurrency unnoticed.

With ``_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`` set, each worker connects its standard output
and error to that Unix socket, as awslambdaric does (runtimes-custom.html, managed instances).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False

POOL_EVENT = "runtime_worker_pool_initializing"
# A worker's exit status for "my init failed": the parent lets the other workers fail (or
# report) on their own instead of stopping them, since one of them may be posting the error.
_INIT_FAILED = 78


def parse_concurrency(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(
            f"lambdakit runtime: AWS_LAMBDA_MAX_CONCURRENCY={value!r} is not a positive integer"
        )
    return int(value)


def run(spec: str, address: str, concurrency: str, *, user_agent: str) -> int:
    """Fork the workers, wait for them, return the exit status of the environment."""
    count = parse_concurrency(concurrency)
    _log_pool_event(count)
    token_read, token_write = _token_pipe()
    phase_read, phase_write = _token_pipe()
    ready_read, ready_write = os.pipe()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child; covered by the LMI tests' output
            os.close(token_write)
            os.close(phase_write)
            claims = _Claims(token_read, phase_read, ready_read, ready_write)
            _exit(_worker(spec, address, user_agent, claims))
        pids.append(pid)
    for fd in (token_read, token_write, phase_read, phase_write, ready_read, ready_write):
        os.close(fd)
    return _supervise(pids)


def _token_pipe() -> tuple[int, int]:
    """A pipe holding one byte: whoever reads it first has the job."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.write(write, b"1")
    return read, write


class _Claims:
    """A worker's ends of the pipes it shares with its siblings."""

    __slots__ = ("init_error", "ready_read", "ready_write", "shutdown_phase")

    def __init__(
        self, init_error: int, shutdown_phase: int, ready_read: int, ready_write: int
    ) -> None:
        self.init_error = init_error
        self.shutdown_phase = shutdown_phase
        self.ready_read = ready_read
        self.ready_write = ready_write

    def initialized(self, wait_for_siblings: bool) -> None:
        """Say this worker's init is over; with ``wait_for_siblings``, wait for all of theirs."""
        os.close(self.ready_write)
        if wait_for_siblings:
            while os.read(self.ready_read, 1):
                pass


def _exit(status: int) -> None:  # pragma: no cover - runs in the child
    # A forked child must not unwind into the parent's frames; run atexit handlers (user code
    # registers flushes there) and leave.
    import atexit

    atexit._run_exitfuncs()
    os._exit(status)


def _claim(token_read: int) -> bool:
    try:
        return os.read(token_read, 1) == b"1"
    except BlockingIOError:
        return False


def _worker(spec: str, address: str, user_agent: str, claims: _Claims) -> int:
    """Body of one worker process; returns its exit status."""
    from lambdakit import _hooks
    from lambdakit.runtime.client import RuntimeClient
    from lambdakit.runtime.errors import RuntimeAPIError
    from lambdakit.runtime.loop import start

    try:
        _redirect_output(os.environ.get("_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"))
        client = RuntimeClient(address, user_agent=user_agent)
        runtime = start(
            spec,
            client,
            claim_init_error=lambda: _claim(claims.init_error),
            claim_shutdown_phase=lambda: _claim(claims.shutdown_phase),
            export_trace_id=False,
        )
        if runtime is None:
            return _INIT_FAILED
        claims.initialized(wait_for_siblings=bool(_hooks._shutdown_hooks))
        runtime.run(runtime.client.invocations())
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except RuntimeAPIError as exc:
        sys.stderr.write(f"lambdakit runtime worker {os.getpid()}: {exc}; exiting.\n")
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _redirect_output(socket_path: str | None) -> None:
    if not socket_path:
        return
    import _socket

    for fd in (1, 2):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.connect(socket_path)
        os.dup2(sock.fileno(), fd)
        sock.close()


def _supervise(pids: list[int]) -> int:
    if TYPE_CHECKING:
        import signal as _signal
    else:
        import _signal  # signal.py imports enum: several ms of cold start for nothing

    def forward(signum: int, frame: object) -> None:
        _signal_all(pids, signum)

    _signal.signal(_signal.SIGTERM, forward)
    status = 0
    remaining = set(pids)
    while remaining:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        remaining.discard(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if code == _INIT_FAILED:
            status = status or 1
        elif code != 0 and status == 0:
            status = code if code > 0 else 128 - code
            _signal_all(sorted(remaining), _signal.SIGTERM)
    return status


def _signal_all(pids: list[int] | set[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _log_pool_event(count: int) -> None:
    """The DEBUG event awslambdaric emits once, before forking (PR #219)."""
    import time

    from lambdakit.runtime.logs import LogSettings, json_record, timestamp

    settings = LogSettings(os.environ)
    if not settings.enabled(10):
        return
    event = {
        "event": POOL_EVENT,
        "workerCount": count,
        "executionEnvironmentMaxConcurrency": count,
    }
    now = timestamp(time.time())
    if settings.json:
        fields: dict[str, object] = {"timestamp": now, "level": "DEBUG", "message": event}
        sys.stdout.write(json_record({**fields, "logger": "root", "requestId": ""}))
    else:
        sys.stdout.write(f"[DEBUG]\t{now}\t\t{event}\n")
    sys.stdout.flush()
