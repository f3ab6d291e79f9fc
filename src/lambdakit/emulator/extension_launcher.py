"""External extensions: found in the layers' ``extensions/`` and started, before the runtime,
inside the environment's one process (tree), sandbox and memory guard.

Lambda starts every executable in ``/opt/extensions`` before the runtime, waits until each has
registered, and only then starts the runtime; the extensions see the function's variables
minus a few (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html,
"Extensions API"; reference §2.1). Here a small ``sh`` script, the LAUNCHER, is the process the
environment spawns (the sandbox's command, or a plain process):

1. it starts each extension in a session and process group of its own (``setsid``), as
   Lambda's supervisor does, so that the runtime's SIGTERM never reaches them, under a small
   ``sh`` that writes ``extension NAME STATUS`` to the STATUS descriptor when it exits; their
   stdout and stderr are pipes of their own (OUT, ERR), not the runtime's: Lambda tells their
   lines apart, as ``extension`` records of the Telemetry and Logs APIs (telemetry_hub.py);
2. it waits on the GO descriptor, which the emulator writes once every extension has
   registered (or closes, when init failed: the launcher then exits);
3. it runs the bootstrap in its own process group, the launcher's (the SIGTERM sent to that
   group is the runtime's; a trap lets the launcher outlive it), writes ``runtime STATUS``
   when it ends, and waits for the extensions: in the sandbox, PID 1 ends the namespace, and
   every process with it, once the launcher exits, so it stays for the extensions' shutdown.
   The bootstrap is a background job, waited for with the shell's own stderr on /dev/null:
   a shell reports a command that a signal ended (dash: ``Killed``) on its stderr, which is
   the function's log, and Lambda writes no such line. (An asynchronous command of a
   non-interactive shell ignores SIGINT and reads /dev/null: the runtime gets neither.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdakit.emulator.layout import Layout

__all__ = [
    "EXCLUDED",
    "ExternalExtension",
    "discover",
    "launcher_argv",
    "launcher_environ",
    "parse_status",
]

# The variables an extension does not get (reference §2.1; RIE's AgentExecEnv also drops every
# name that starts with "_").
EXCLUDED = frozenset(
    {
        "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS", "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT", "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT", "_HANDLER",
    }
)  # fmt: skip
UNSET = "LAMBDAKIT_EXTENSION_UNSET"  # the launcher's own variable: what it unsets for them

# $1 status fd, $2 go fd, $3 and $4 the extensions' stdout and stderr fds, $5 the number of
# extensions, then their paths, then the bootstrap. The descriptors are opened again through
# /proc (dash redirects descriptors 0-9 only); the runtime and the extensions keep them open,
# which costs nothing: the emulator reads STATUS lines, not its end, and writes GO once; the
# output pipes end with the environment's last process, as the runtime's own do.
LAUNCHER = r"""
status=/proc/self/fd/$1 go=/proc/self/fd/$2 out=/proc/self/fd/$3 err=/proc/self/fd/$4 n=$5
shift 5
trap : TERM
while [ "$n" -gt 0 ]; do
  (
    for name in $LAMBDAKIT_EXTENSION_UNSET; do unset "$name"; done
    unset LAMBDAKIT_EXTENSION_UNSET
    exec setsid sh -c '"$1"; echo "extension ${1##*/} $?" >"$0"' "$status" "$1" >"$out" 2>"$err"
  ) &
  shift; n=$((n - 1))
done
read -r ready <"$go" || exit 0
unset LAMBDAKIT_EXTENSION_UNSET
"$@" &
runtime=$!
while :; do
  wait "$runtime" 2>/dev/null; code=$?
  kill -0 "$runtime" 2>/dev/null || break
done
echo "runtime $code" >"$status"
wait 2>/dev/null
"""


@dataclass(frozen=True, slots=True)
class ExternalExtension:
    """An executable of /opt/extensions: its file name (what it registers as) and its path as
    the process sees it."""

    name: str
    path: str


def discover(host: Layout, *, sandboxed: bool) -> tuple[ExternalExtension, ...]:
    """The executables of /opt/extensions, the merge of the layers' ``extensions/`` (a later
    layer's file over an earlier one's of the same name: HOST lists the last layer first),
    in name order; their paths as seen in the sandbox (SANDBOXED) or on this machine."""
    found: dict[str, Path] = {}
    for part in host.opt:
        if part.at:
            continue  # a BuildMethod layer's files are in /opt/python, not /opt/extensions
        directory = part.root / "extensions"
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if entry.name not in found and entry.is_file() and os.access(entry, os.X_OK):
                found[entry.name] = entry
    return tuple(
        ExternalExtension(name, f"/opt/extensions/{name}" if sandboxed else str(found[name]))
        for name in sorted(found)
    )


def launcher_argv(
    status_fd: int,
    go_fd: int,
    output_fds: tuple[int, int],
    extensions: tuple[ExternalExtension, ...],
    argv: list[str],
) -> list[str]:
    """The LAUNCHER's command: it starts EXTENSIONS, their stdout and stderr on OUTPUT_FDS,
    then (once GO_FD is written) ARGV."""
    paths = [extension.path for extension in extensions]
    out, err = output_fds
    return ["/bin/sh", "-c", LAUNCHER, "launcher", str(status_fd), str(go_fd), str(out),
            str(err), str(len(paths)), *paths, *argv]  # fmt: skip


def launcher_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """ENVIRON with the names the extensions must not see listed for the launcher."""
    names = sorted(n for n in environ if n in EXCLUDED or (n.startswith("_") and n.isidentifier()))
    return {**environ, UNSET: " ".join(names)}


def parse_status(line: bytes) -> tuple[str, str, int] | None:
    """``("runtime" | "extension", name, returncode)`` of a STATUS line; a shell's 128 + N
    (killed by signal N) is told as -N, as ``subprocess`` does."""
    parts = line.decode(errors="replace").split()
    if len(parts) == 2 and parts[0] == "runtime":
        parts = ["runtime", "", parts[1]]
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    code = int(parts[2])
    return parts[0], parts[1], -(code - 128) if 128 < code < 160 else code
