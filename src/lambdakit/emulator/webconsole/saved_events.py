"""Test events: saved per function in the AWS console's shareable format, plus the project's
``events/*.json`` and the samples of ``lambdakit events``.

A function's saved events are one file, ``<project>/events/shareable/<LogicalId>.json``, in the
format the Lambda console keeps *shareable* test events in: an OpenAPI 3 schema document of the
EventBridge Schemas registry ``lambda-testevent-schemas``, schema ``_<FunctionName>-schema``,
each event under ``components.examples.<name>.value`` with ``x-metadata.invocationType``
(https://docs.aws.amazon.com/lambda/latest/dg/testing-functions.html#creating-shareable-events;
the shape is SAM CLI's, aws-sam-cli ``samcli/lib/shared_test_events/lambda_shared_test_event.py``
at fe8f8dbb: ``add_event_to_schema``, ``remove_event``, registry and schema names, and the
discovered schema ``{"openapi": "3.0.0", "info": {"version": "1.0.0", "title": "Event"},
"paths": {}, "components": {"schemas": {"Event": ...}}}`` of its unit tests). So the file can be
pushed as it is (``aws schemas update-schema --registry-name lambda-testevent-schemas
--schema-name _<FunctionName>-schema --type OpenApi3 --content file://...``), and what the
console or ``sam remote test-event get`` fetched can be saved here.

As there, the schema is discovered from the first event saved (``discover_schema``, a small
version of what EventBridge's ``GetDiscoveredSchema`` answers), an event of the same name is
replaced, and removing the last event removes the whole document.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdakit.emulator.invocations import SYNC_PAYLOAD_LIMIT
from lambdakit.emulator.webconsole.errors import ConsoleError

__all__ = [
    "REGISTRY",
    "EventSources",
    "SavedEvents",
    "check_name",
    "discover_schema",
    "parse_event",
    "schema_name",
]

REGISTRY = "lambda-testevent-schemas"  # SAM CLI's LAMBDA_TEST_EVENT_REGISTRY
NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")  # the Lambda console's rule for event names
SHAREABLE = Path("events") / "shareable"


@dataclass(frozen=True)
class EventSources:
    """Where a console's test events come from besides those saved: the project (its
    directory: ``events/*.json`` and ``events/shareable/``) and the samples of ``lambdakit
    events`` (the CLI passes them in; the emulator does not import ``lambdakit.project``)."""

    project_dir: Path | None = None
    samples: Sequence[str] = ()
    load_sample: Callable[[str], object] | None = field(default=None, compare=False)


def schema_name(function_name: str) -> str:
    """The schema of FUNCTION_NAME's shareable events (SAM CLI's ``_get_schema_name``)."""
    return f"_{function_name}-schema"


def check_name(name: str) -> str:
    if NAME.fullmatch(name) is None:
        raise ConsoleError(
            400, f"invalid event name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-'"
        )
    return name


def parse_event(body: bytes) -> Any:
    """The JSON of a test event; 400 with the parser's message (line and column) if not."""
    if len(body) > SYNC_PAYLOAD_LIMIT:
        raise ConsoleError(413, f"the event is {len(body)} bytes; Lambda takes 6 MB at most")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConsoleError(400, f"the event is not UTF-8: {error}") from error
    except ValueError as error:
        raise ConsoleError(400, f"the event is not JSON: {error}") from error


def discover_schema(value: object) -> dict[str, object]:
    """A JSON schema of VALUE as EventBridge's schema discovery writes one (types, properties
    and required keys of objects, the items of arrays by their first element)."""
    if isinstance(value, dict):
        properties = {str(key): discover_schema(item) for key, item in value.items()}
        schema: dict[str, object] = {"type": "object"}
        if properties:
            schema["required"] = sorted(properties)
            schema["properties"] = properties
        return schema
    if isinstance(value, list):
        return {"type": "array", "items": discover_schema(value[0]) if value else {}}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "number", "format": "int64"}
    if isinstance(value, float):
        return {"type": "number", "format": "double"}
    return {"type": "string"} if isinstance(value, str) else {}


class SavedEvents:
    """The shareable-events files under PROJECT_DIR (module docstring)."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir

    def path(self, logical_id: str) -> Path:
        return self.project_dir / SHAREABLE / f"{logical_id}.json"

    def load(self, logical_id: str) -> dict[str, Any] | None:
        path = self.path(logical_id)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise ConsoleError(500, f"cannot read {path}: {error}") from error
        if not isinstance(document, dict) or not isinstance(document.get("components"), dict):
            raise ConsoleError(500, f"{path} is not a schema document (it has no components)")
        return document

    def names(self, logical_id: str) -> list[str]:
        document = self.load(logical_id)
        return list(_examples(document)) if document is not None else []

    def get(self, logical_id: str, name: str) -> object:
        document = self.load(logical_id)
        example = _examples(document).get(name) if document is not None else None
        if not isinstance(example, dict) or "value" not in example:
            raise ConsoleError(404, f"no saved event {name!r}")
        return example["value"]

    def put(self, logical_id: str, name: str, event: object) -> None:
        """Save EVENT as NAME (replacing one of that name), as SAM CLI's ``create_event``."""
        document = self.load(logical_id) or _new_document(event)
        examples = document["components"].setdefault("examples", {})
        examples[name] = {"value": event, "x-metadata": {"invocationType": "RequestResponse"}}
        self._write(logical_id, document)

    def delete(self, logical_id: str, name: str) -> None:
        document = self.load(logical_id)
        examples = _examples(document) if document is not None else {}
        if name not in examples:
            raise ConsoleError(404, f"no saved event {name!r}")
        del examples[name]
        if examples:
            self._write(logical_id, document)  # type: ignore[arg-type]
        else:  # SAM CLI deletes the schema with its last event (MIN_EVENTS)
            self.path(logical_id).unlink()

    def _write(self, logical_id: str, document: dict[str, Any]) -> None:
        """Write the whole file or nothing: a temporary file beside it, then a rename."""
        path = self.path(logical_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _new_document(event: object) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"version": "1.0.0", "title": "Event"},
        "paths": {},
        "components": {"schemas": {"Event": discover_schema(event)}, "examples": {}},
    }


def _examples(document: dict[str, Any] | None) -> dict[str, Any]:
    examples = document["components"].get("examples") if document is not None else None
    return examples if isinstance(examples, dict) else {}
