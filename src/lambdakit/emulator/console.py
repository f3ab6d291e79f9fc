"""Writing to stdout and stderr without ever blocking the event loop.

A pipe that nobody drains (an IDE panel, a paused ``| less``, a CI log buffer that is full)
blocks every ``write`` to it once its 64 KB are full. Made by the event loop, such a write
freezes the whole emulator: invocations time out and SIGTERM's handler never runs. So the
emulator hands its text to a ``ConsoleWriter``, and one daemon thread per stream makes the
blocking writes.

The descriptor stays blocking: O_NONBLOCK is a flag of the file description, which is often
shared with the user's shell or the other processes of a CI job, and they would get EAGAIN.
The queue is bounded (``MAX_QUEUED`` bytes); past it, text is dropped and counted, and once
the reader has caught up one line says how many lines were lost.

Everything the emulator writes to a stream while serving goes through that stream's one writer
(``writer_for``): nothing waits in Python's own buffer of ``sys.stdout``, which the interpreter
flushes at exit (a write that would block on a full pipe), and lines keep their order. At exit,
what is queued gets ``EXIT_TIMEOUT`` seconds to be written; then the process exits anyway.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import time
from typing import TextIO

__all__ = ["EXIT_TIMEOUT", "MAX_QUEUED", "ConsoleWriter", "echo", "flush_all", "warn", "writer_for"]

MAX_QUEUED = 8 * 1024 * 1024  # bytes: ~80,000 lines for a slow reader, little memory
EXIT_TIMEOUT = 1.0  # seconds


class ConsoleWriter:
    """Text for one stream, written in order by a daemon thread; ``write`` never blocks.

    A stream without a file descriptor (``io.StringIO``, pytest's ``capsys``) cannot block
    and is written directly. The thread writes to a duplicate of the stream's descriptor, so
    that closing the stream cannot hand its number to another file while text is queued.
    """

    def __init__(self, stream: TextIO, *, limit: int = MAX_QUEUED) -> None:
        self.stream = stream
        self.dropped = 0  # lines dropped since the start
        self.closed = False
        self._limit = limit
        self._encoding = getattr(stream, "encoding", None) or "utf-8"
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # flush() waits for the thread
        # A SimpleQueue wakes the thread for less than a Condition: this is paid per batch of
        # log lines. None tells the thread to end.
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._queued = 0  # bytes handed over and not yet written
        self._unreported = 0  # lines dropped and not yet in a notice
        self._broken = False  # the reader went away: nothing more is written
        self._flush_stream()  # what was printed before goes out before what we write
        self._fd = _duplicate_fd(stream)
        if self._fd is not None:
            name = f"lambdakit-console-{self._fd}"
            threading.Thread(target=self._run, args=(self._fd,), name=name, daemon=True).start()

    @property
    def threaded(self) -> bool:
        return self._fd is not None

    def write(self, text: str) -> None:
        """Queue ``text``; drop it when the queue is full or a notice of drops is owed."""
        if self._fd is None:
            self._write_direct(text)
            return
        data = text.encode(self._encoding, "replace")
        with self._lock:
            if self.closed or self._broken:
                return
            if self._unreported or self._queued + len(data) > self._limit:
                self._drop(data)
                return
            self._queued += len(data)
            self._queue.put(data)

    def _drop(self, data: bytes) -> None:
        lines = data.count(b"\n") or 1
        self.dropped += lines
        self._unreported += lines
        if not self._queued:  # the thread is idle: wake it for the notice
            self._queue.put(b"")

    def flush(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for everything written so far to be out; returns
        whether it is."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queued or self._unreported:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 1.0) -> bool:
        """Flush for at most ``timeout`` seconds, then take no more text. A thread still
        blocked in a write finishes the queue if a reader comes, or dies with the process."""
        flushed = self.flush(timeout)
        with self._lock:
            self.closed = True
            self._queue.put(None)
        return flushed

    # --- the thread ----------------------------------------------------------------------------

    def _run(self, fd: int) -> None:
        try:
            going_on = True
            while going_on:
                data, going_on = self._take()
                _write_all(fd, data)
                self._written(len(data))
                while notice := self._owed_notice():
                    _write_all(fd, _drop_notice(notice).encode(self._encoding, "replace"))
                    self._reported(notice)
        except OSError:  # the reader went away (EPIPE), or the descriptor did: best effort
            self._discard()
        finally:
            os.close(fd)

    def _take(self) -> tuple[bytes, bool]:
        """Everything queued, in one piece (waiting for the first), and whether to go on."""
        chunks = []
        item = self._queue.get()
        while item is not None:
            chunks.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return b"".join(chunks), True
        return b"".join(chunks), False

    def _written(self, size: int) -> None:
        with self._lock:
            self._queued -= size
            if not (self._queued or self._unreported):
                self._idle.notify_all()

    def _owed_notice(self) -> int:
        """The lines to report as dropped, once the reader has caught up with the text queued
        before them: the notice then stands where the lines went missing."""
        with self._lock:
            return 0 if self._queued else self._unreported

    def _reported(self, lines: int) -> None:
        with self._lock:
            self._unreported -= lines  # lines dropped meanwhile make another notice
            if not self._unreported:
                self._idle.notify_all()

    def _discard(self) -> None:
        with self._lock:
            self._broken = True
            self._queued = self._unreported = 0
            self._idle.notify_all()

    # --- no descriptor -------------------------------------------------------------------------

    def _write_direct(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # the stream went away: output is best effort

    def _flush_stream(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _duplicate_fd(stream: TextIO) -> int | None:
    try:
        fd = stream.fileno()
        return os.dup(fd) if isinstance(fd, int) and fd >= 0 else None
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            # Another process made the shared description non-blocking: wait, as a blocking
            # write would have (a rare case, so a short sleep rather than poll()).
            time.sleep(0.01)


def _drop_notice(lines: int) -> str:
    count = "1 line" if lines == 1 else f"{lines} lines"
    were = "was" if lines == 1 else "were"
    return (
        f"lambdakit: {count} of log output {were} dropped because nobody was reading this output\n"
    )


# --- one writer per stream ---------------------------------------------------------------------

_writers: dict[int, ConsoleWriter] = {}  # id(stream) -> its writer, which keeps the stream alive
_writers_lock = threading.Lock()


def writer_for(stream: TextIO) -> ConsoleWriter:
    """The writer of ``stream``: one per stream, so that lines keep their order."""
    with _writers_lock:
        _forget_closed_streams()
        writer = _writers.get(id(stream))
        if writer is None or writer.closed:
            writer = ConsoleWriter(stream)
            if writer.threaded:  # a direct writer holds nothing worth sharing
                _writers[id(stream)] = writer
        return writer


def _forget_closed_streams() -> None:
    """Let the threads of closed streams end (once their queues are written) and free them."""
    for key, writer in list(_writers.items()):
        if getattr(writer.stream, "closed", False):
            writer.close(timeout=0)
            del _writers[key]


def echo(text: str, *, err: bool = False) -> None:
    """``text`` and a newline on the current ``sys.stdout`` (``sys.stderr`` with ``err``),
    looked up now so that a replaced stream (pytest's capsys) gets it."""
    writer_for(sys.stderr if err else sys.stdout).write(text + "\n")


def warn(text: str) -> None:
    """The emulator's own notice on stderr: ``lambdakit: text``."""
    echo(f"lambdakit: {text}", err=True)


def flush_all(timeout: float) -> bool:
    """Wait at most ``timeout`` seconds in all for every writer's queue to be written."""
    deadline = time.monotonic() + timeout
    with _writers_lock:
        writers = list(_writers.values())
    return all([writer.flush(deadline - time.monotonic()) for writer in writers])


# Daemon threads still run while atexit's functions do; queued text is lost only once they are
# done, and then only if nobody read it for EXIT_TIMEOUT seconds.
atexit.register(flush_all, EXIT_TIMEOUT)
