"""The console's HTTP routes under ``/_lambdakit/console`` on the Invoke API's port.

Only loopback peers are served (403 for the others), and only requests that name this
machine in their Host header: a web page elsewhere cannot reach the console through a DNS
name rebound to 127.0.0.1, and a page of another origin cannot change saved events or replay
events (its ``Origin`` is refused on anything but GET).
"""

from __future__ import annotations

import ipaddress
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lambdakit.emulator._http import Request, Response, json_response
from lambdakit.emulator.webconsole import overview
from lambdakit.emulator.webconsole.async_view import AsyncView
from lambdakit.emulator.webconsole.errors import ConsoleError
from lambdakit.emulator.webconsole.logparse import LEVELS
from lambdakit.emulator.webconsole.saved_events import (
    EventSources,
    SavedEvents,
    check_name,
    parse_event,
)
from lambdakit.emulator.webconsole.stream import Broadcaster

if TYPE_CHECKING:
    from lambdakit.emulator.scheduler import FunctionPool
    from lambdakit.emulator.server import Emulator
    from lambdakit.emulator.webconsole.hub import Hub

__all__ = ["PREFIX", "STATIC", "Console", "is_loopback", "refuse_foreign"]

PREFIX = "/_lambdakit/console"
STATIC = Path(__file__).parent / "static"
_STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}
Handler = Callable[[Request], Awaitable[Response]]
Route = Callable[[Request, "re.Match[str]"], Awaitable[Response]]


def is_loopback(host: str | None) -> bool:
    """Whether HOST (an address) is this machine's: 127.0.0.0/8, ::1, ::ffff:127.x.y.z."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class Console:
    """The console's handler: routes, the stream's broadcaster, the test events' stores."""

    def __init__(self, emulator: Emulator, hub: Hub, sources: EventSources) -> None:
        self.emulator = emulator
        self.hub = hub
        self.sources = sources
        project = sources.project_dir or emulator.config.state_dir.absolute().parent
        self.project_dir = project
        self.saved = SavedEvents(project)
        self.async_view = AsyncView(emulator)
        self.broadcaster = Broadcaster(hub, self.async_view.fingerprint)
        self._routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("GET", re.compile(r"/?"), self._index),
            ("GET", re.compile(r"/static/(.+)"), self._static),
            ("GET", re.compile(r"/api/overview"), self._overview),
            ("GET", re.compile(r"/api/invocations"), self._invocations),
            ("GET", re.compile(r"/api/invocations/([^/]+)"), self._invocation),
            ("GET", re.compile(r"/api/logs"), self._logs),
            ("GET", re.compile(r"/api/stream"), self._stream),
            ("GET", re.compile(r"/api/functions/([^/]+)/events"), self._events),
            ("GET", re.compile(r"/api/functions/([^/]+)/events/([^/]+)"), self._event),
            ("PUT", re.compile(r"/api/functions/([^/]+)/events/([^/]+)"), self._save),
            ("DELETE", re.compile(r"/api/functions/([^/]+)/events/([^/]+)"), self._delete),
            ("GET", re.compile(r"/api/async"), self._async),
            ("POST", re.compile(r"/api/async/replay"), self._replay),
        ]

    def wrap(self, handler: Handler) -> Handler:
        """HANDLER (the Invoke API's), with the console's paths taken out first."""

        async def handle(request: Request) -> Response:
            if request.target.startswith(PREFIX):
                return await self.handle(request)
            return await handler(request)

        return handle

    async def handle(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except ConsoleError as error:
            return json_response(error.status, {"message": error.message})

    async def _route(self, request: Request) -> Response:
        path = request.path
        if path == PREFIX:  # the page's relative URLs need the slash
            return Response(308, [("Location", PREFIX + "/")])
        if not path.startswith(PREFIX + "/"):
            raise ConsoleError(404, f"no console page at {path}")
        refuse_foreign(request)
        rest = path[len(PREFIX) :]
        allowed = []
        for method, pattern, route in self._routes:
            match = pattern.fullmatch(rest)
            if match is None:
                continue
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                return await route(request, match)
            allowed.append(method)
        if allowed:
            raise ConsoleError(405, f"{request.method} is not allowed here ({', '.join(allowed)})")
        raise ConsoleError(404, f"no console page at {path}")

    # --- pages ---------------------------------------------------------------------------------

    async def _index(self, request: Request, match: re.Match[str]) -> Response:
        return _file(STATIC / "index.html")

    async def _static(self, request: Request, match: re.Match[str]) -> Response:
        name = unquote(match.group(1))
        if _STATIC_NAME.fullmatch(name) is None:
            raise ConsoleError(404, f"no static file {name!r}")
        return _file(STATIC / name)

    # --- the API -------------------------------------------------------------------------------

    async def _overview(self, request: Request, match: re.Match[str]) -> Response:
        return json_response(200, overview.overview(self.emulator, self.hub), _NO_CACHE)

    async def _invocations(self, request: Request, match: re.Match[str]) -> Response:
        query = request.query
        function = self._function_name(query.get("function"))
        records = self.hub.invocations(function, _limit(query.get("limit"), 200))
        return json_response(200, {"invocations": [r.to_json() for r in records]}, _NO_CACHE)

    async def _invocation(self, request: Request, match: re.Match[str]) -> Response:
        request_id = unquote(match.group(1))
        record = self.hub.invocation(request_id)
        if record is None:
            raise ConsoleError(404, f"no invocation {request_id} (unknown, or no longer kept)")
        document = record.detail()
        document["logs"] = self.hub.logs(request_id=request_id, limit=1000)
        return json_response(200, document, _NO_CACHE)

    async def _logs(self, request: Request, match: re.Match[str]) -> Response:
        query = request.query
        level = query.get("level") or None
        if level is not None:
            level = {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(level.upper(), level.upper())
            if level not in LEVELS:
                raise ConsoleError(400, f"level {level!r}: choose one of {', '.join(LEVELS)}")
        logs = self.hub.logs(
            function=self._function_name(query.get("function")),
            request_id=query.get("request_id") or None,
            level=level,
            limit=_limit(query.get("limit"), 500),
        )
        return json_response(200, {"logs": logs}, _NO_CACHE)

    async def _stream(self, request: Request, match: re.Match[str]) -> Response:
        client = self.broadcaster.subscribe(logs=request.query.get("logs") != "0")
        headers = [("Content-Type", "text/event-stream"), *_NO_CACHE]
        return Response(200, headers, self.broadcaster.follow(client))

    # --- test events ---------------------------------------------------------------------------

    async def _events(self, request: Request, match: re.Match[str]) -> Response:
        pool = self._pool(match.group(1))
        logical_id = _logical_id(pool)
        events = [{"name": n, "source": "saved"} for n in self.saved.names(logical_id)]
        events += [{"name": n, "source": "project"} for n in self._project_events()]
        events += [{"name": n, "source": "sample"} for n in self.sources.samples]
        document = {"events": events, "file": str(self.saved.path(logical_id))}
        return json_response(200, document, _NO_CACHE)

    async def _event(self, request: Request, match: re.Match[str]) -> Response:
        pool = self._pool(match.group(1))
        name = unquote(match.group(2))
        source = request.query.get("source", "saved")
        if source == "saved":
            event = self.saved.get(_logical_id(pool), check_name(name))
        elif source == "project":
            event = self._project_event(name)
        elif source == "sample" and name in self.sources.samples and self.sources.load_sample:
            event = self.sources.load_sample(name)
        elif source == "sample":
            raise ConsoleError(404, f"no sample event {name!r}")
        else:
            raise ConsoleError(400, f"source {source!r}: choose saved, project or sample")
        return json_response(200, {"name": name, "source": source, "event": event}, _NO_CACHE)

    async def _save(self, request: Request, match: re.Match[str]) -> Response:
        pool = self._pool(match.group(1))
        name = check_name(unquote(match.group(2)))
        event = parse_event(await request.body(limit=8 * 1024 * 1024))
        self.saved.put(_logical_id(pool), name, event)
        return json_response(200, {"name": name})

    async def _delete(self, request: Request, match: re.Match[str]) -> Response:
        pool = self._pool(match.group(1))
        self.saved.delete(_logical_id(pool), check_name(unquote(match.group(2))))
        return Response(204)

    def _project_events(self) -> list[str]:
        directory = self.project_dir / "events"
        try:
            return sorted(p.stem for p in directory.glob("*.json") if p.is_file())
        except OSError:
            return []

    def _project_event(self, name: str) -> object:
        path = self.project_dir / "events" / f"{check_name(name)}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise ConsoleError(404, f"no project event {name!r} ({path})") from error
        except (OSError, ValueError) as error:
            raise ConsoleError(422, f"{path}: {error}") from error

    # --- async ---------------------------------------------------------------------------------

    async def _async(self, request: Request, match: re.Match[str]) -> Response:
        return json_response(200, self.async_view.view(), _NO_CACHE)

    async def _replay(self, request: Request, match: re.Match[str]) -> Response:
        try:
            document = json.loads(await request.body(limit=64 * 1024))
        except ValueError as error:
            raise ConsoleError(400, f"the body is not JSON: {error}") from error
        item = document.get("id") if isinstance(document, dict) else None
        if not isinstance(item, str):
            raise ConsoleError(400, 'give the item to replay as {"id": "<id from the lists>"}')
        return json_response(202, {"request_id": self.async_view.replay(item)})

    # --- helpers -------------------------------------------------------------------------------

    def _pool(self, given: str) -> FunctionPool:
        pool = self.emulator.pool(unquote(given))
        if pool is None:
            raise ConsoleError(404, f"no function {unquote(given)!r}")
        return pool

    def _function_name(self, given: str | None) -> str | None:
        """The FunctionName of a function given by name or logical id (None: all)."""
        if not given:
            return None
        pool = self.emulator.pool(given)
        return pool.spec.name if pool is not None else given


_NO_CACHE = [("Cache-Control", "no-cache")]


def _logical_id(pool: FunctionPool) -> str:
    return pool.spec.logical_id or pool.spec.name


def refuse_foreign(request: Request) -> None:
    """Raise 403 unless REQUEST comes from this machine, names it, and (when it would change
    something) comes from the console's own origin (module docstring)."""
    peer = request.peer
    if not is_loopback(peer[0] if peer else None):
        raise ConsoleError(403, "the console answers only to this machine (loopback peers)")
    host = (request.header("host") or "").lower()
    if not _local_host(host):
        raise ConsoleError(403, f"the console answers only to local names, not {host!r}")
    origin = request.header("origin")
    if request.method not in ("GET", "HEAD") and origin and origin != f"http://{host}":
        raise ConsoleError(403, f"requests from {origin} may not change the console's data")


def _local_host(host: str) -> bool:
    """Whether a Host header (``name[:port]``) names this machine."""
    if host.startswith("["):
        name = host[1 : host.find("]")]
    else:
        name = host.rsplit(":", 1)[0] if ":" in host else host
    return name == "localhost" or is_loopback(name)


def _limit(text: str | None, default: int) -> int:
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConsoleError(400, f"limit {text!r}: give a whole number, 1 or more")
    return int(text)


def _file(path: Path) -> Response:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        raise ConsoleError(404, f"no static file {path.name!r}") from error
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    content_type = content_type or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith(("json", "javascript")):
        content_type += "; charset=utf-8"
    return Response(200, [("Content-Type", content_type), *_NO_CACHE], data)
