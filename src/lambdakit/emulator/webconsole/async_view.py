"""``B/api/async``: the Event invocations not done yet, the dead letters and the destination
records, read where the emulator keeps them; and replay, which submits an event again.

Where they are (event_queue.py, destinations.py): events in flight in the ``EventQueue``
(running, or sleeping until their next attempt); failed events of a function with neither an
OnFailure destination nor a DLQ in ``<state dir>/dead-letters.jsonl``; DLQ messages and the
records of destinations that are not functions served here in
``<state dir>/destinations/<ARN>.jsonl`` (a destination that is such a function is invoked,
and shows as its invocation). An item's id names its file and line (``dlq:<file>:<n>``), or
the event's request id (``pending:<id>``), so that replay finds it again.
"""

from __future__ import annotations

import base64
import calendar
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdakit.emulator.event_queue import DEAD_LETTERS
from lambdakit.emulator.invocations import PendingInvocation
from lambdakit.emulator.webconsole.errors import ConsoleError

if TYPE_CHECKING:
    from lambdakit.emulator.server import Emulator

__all__ = ["LIST_LIMIT", "AsyncView"]

LIST_LIMIT = 200  # the newest items of each file
Item = dict[str, Any]


class AsyncView:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.queue = emulator.events
        self.state_dir = emulator.config.state_dir

    def _files(self) -> dict[Path, tuple[str, str | None]]:
        """Each file of records: (kind, the ARN it stands for; None for dead-letters.jsonl)."""
        files: dict[Path, tuple[str, str | None]] = {self.state_dir / DEAD_LETTERS: ("dead", None)}
        destinations = self.queue.destinations
        for spec in self.emulator.functions.values():
            config = spec.async_config
            if config.dead_letter:
                files[destinations.path(config.dead_letter)] = ("dlq", config.dead_letter)
            for arn in (config.on_success, config.on_failure):
                if arn and destinations.local(arn) is None:
                    files.setdefault(destinations.path(arn), ("destination", arn))
        return files

    def fingerprint(self) -> object:
        """Changes when the view does (the stream's ``async`` event)."""
        stats: list[tuple[int, int] | None] = []
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                stats.append(None)
                continue
            stats.append((stat.st_size, stat.st_mtime_ns))
        # next_attempt too: a failed attempt starts a wait without changing ``attempts``.
        queued = tuple((event.attempts, event.next_attempt) for event in self.queue.queued())
        return queued, self.queue.completed, tuple(stats)

    def view(self) -> dict[str, list[Item]]:
        now = self.queue.clock()
        pending = [
            {
                "id": f"pending:{event.request_id}", "function": event.function,
                "attempt": event.attempts, "next_attempt": _ms(event.next_attempt),
                "age_s": round(now - event.enqueued, 3), "event": _text(event.payload),
            }
            for event in self.queue.queued()
        ]  # fmt: skip
        dead: list[Item] = []
        records: list[Item] = []
        for path, (kind, arn) in self._files().items():
            for index, line in _lines(path):
                item = _item(kind, arn, line, path)
                if item is None:
                    continue
                item["id"] = f"{kind}:{path.name}:{index}"
                if kind == "dlq":  # a DLQ message does not name its function: its config does
                    item["function"] = self._dlq_function(arn) or None
                (records if kind == "destination" else dead).append(item)
        dead.sort(key=lambda item: item["time"], reverse=True)
        records.sort(key=lambda item: item["time"], reverse=True)
        return {"pending": pending, "dead_letters": dead, "destinations": records}

    def replay(self, item_id: str) -> str:
        """Submit the event of ITEM_ID again as an Event invocation; returns its request id."""
        function, payload = self._find(item_id)
        pool = self.emulator.pool(function)
        if pool is None:
            raise ConsoleError(404, f"function {function!r} is not served here")
        invocation = PendingInvocation(payload=payload, kind="event")
        self.emulator.submit_event(pool, invocation)
        return invocation.request_id

    def _find(self, item_id: str) -> tuple[str, bytes]:
        kind, _, rest = item_id.partition(":")
        if kind == "pending":
            for event in self.queue.queued():
                if event.request_id == rest:
                    return event.function, event.payload
            raise ConsoleError(404, f"no pending event {rest!r} (it may have ended)")
        name, _, index = rest.rpartition(":")
        for path, (file_kind, arn) in self._files().items():
            if file_kind != kind or path.name != name:
                continue
            for number, line in _lines(path, limit=None):
                if str(number) == index:
                    return self._original(kind, arn, line)
        raise ConsoleError(404, f"no item {item_id!r}")

    def _original(self, kind: str, arn: str | None, line: dict[str, Any]) -> tuple[str, bytes]:
        """The function and the event that a line of KIND records."""
        if kind == "dead":
            payload = line.get("payload")
            if isinstance(payload, dict):
                return str(line["function"]), base64.b64decode(str(payload.get("base64", "")))
            return str(line["function"]), str(payload).encode()
        if kind == "dlq":
            body = line.get("Body", line.get("Message", ""))
            return self._dlq_function(arn), str(body).encode()
        record = line.get("detail", line)  # an event bus's message wraps the record
        function = _function_of(record)
        return function or "", json.dumps(record.get("requestPayload")).encode()

    def _dlq_function(self, arn: str | None) -> str:
        specs = self.emulator.functions.values()
        names = [spec.name for spec in specs if spec.async_config.dead_letter == arn]
        return names[0] if names else ""


def _lines(path: Path, limit: int | None = LIST_LIMIT) -> list[tuple[int, dict[str, Any]]]:
    """The JSON lines of PATH with their numbers (the last LIMIT), skipping broken ones."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    numbered = list(enumerate(text.splitlines()))
    if limit is not None:
        numbered = numbered[-limit:]
    found = []
    for number, line in numbered:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            found.append((number, document))
    return found


def _item(kind: str, arn: str | None, line: dict[str, Any], path: Path) -> Item | None:
    if kind == "dead":
        errors = line.get("errors") or []
        return {
            "target": str(path), "function": line.get("function"),
            "time": _epoch_ms(str(line.get("time", ""))),
            "error": errors[-1] if errors else None, "event": _payload_text(line.get("payload")),
        }  # fmt: skip
    if kind == "dlq":
        attributes = line.get("MessageAttributes", {})
        message = attributes.get("ErrorMessage", {}).get("StringValue")
        return {
            "target": arn, "function": None, "time": _mtime_ms(path), "error": message,
            "event": str(line.get("Body", line.get("Message", ""))),
        }  # fmt: skip
    record = line.get("detail", line)
    context = record.get("requestContext")
    if not isinstance(context, dict):
        return None
    return {
        "target": arn, "function": _function_of(record),
        "condition": context.get("condition"), "time": _epoch_ms(str(record.get("timestamp"))),
        "event": json.dumps(record.get("requestPayload")),
        "response": json.dumps(record.get("responsePayload")),
    }  # fmt: skip


def _function_of(record: dict[str, Any]) -> str | None:
    """The function name in a record's ``functionArn`` (``...:function:NAME:$LATEST``)."""
    arn = str(record.get("requestContext", {}).get("functionArn", ""))
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else None


def _epoch_ms(stamp: str) -> int:
    """``2026-01-02T03:04:05Z`` or with milliseconds, as epoch milliseconds (0 if neither)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0
    return seconds * 1000 + (int(fraction[:3].ljust(3, "0")) if fraction.isdigit() else 0)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _mtime_ms(path: Path) -> int:
    try:
        return int(path.stat().st_mtime * 1000)
    except OSError:
        return 0


def _payload_text(payload: object) -> str:
    if isinstance(payload, dict):
        return _text(base64.b64decode(str(payload.get("base64", ""))))
    return str(payload)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
