"""Stack events: one line per resource event while CloudFormation works, and what they say
when it is over (the failure that started it all, what was rolled back).

CloudFormation records each resource's progress as a stack event (DescribeStackEvents, newest
first, paginated). A watcher remembers the newest event before it acts and prints, in order,
every event after it until the stack leaves its ``*_IN_PROGRESS`` state.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-describing-stacks.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html

The summaries (``first_failure``, ``rolled_back``) are pure functions of the events, so they
are tested with tables of events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "StackEvent",
    "Watcher",
    "event_line",
    "first_failure",
    "is_settled",
    "latest_event_id",
    "rolled_back",
]

STACK_TYPE = "AWS::CloudFormation::Stack"
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")
"""The reason CloudFormation gives the resources it stopped because another one failed:
never the cause, so never reported first."""


@dataclass(frozen=True, slots=True)
class StackEvent:
    """One entry of DescribeStackEvents."""

    event_id: str
    timestamp: datetime
    status: str
    resource_type: str
    logical_id: str
    reason: str = ""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> StackEvent:
        return cls(
            event_id=str(data.get("EventId", "")),
            timestamp=data.get("Timestamp") or datetime.now(),
            status=str(data.get("ResourceStatus", "")),
            resource_type=str(data.get("ResourceType", "")),
            logical_id=str(data.get("LogicalResourceId", "")),
            reason=str(data.get("ResourceStatusReason") or ""),
        )

    @property
    def is_stack(self) -> bool:
        return self.resource_type == STACK_TYPE


def event_line(event: StackEvent) -> str:
    """TIME STATUS TYPE LOGICAL-ID REASON: one line, columns aligned for the common widths."""
    when = event.timestamp.strftime("%H:%M:%S")
    line = f"{when}  {event.status:<30} {event.resource_type:<34} {event.logical_id}"
    return f"{line}  {event.reason}" if event.reason else line


def is_settled(status: str) -> bool:
    """Whether a stack status is final: CloudFormation is done with it (not ``*_IN_PROGRESS``).
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes"""
    return not status.endswith("_IN_PROGRESS")


def first_failure(events: Sequence[StackEvent]) -> StackEvent | None:
    """The earliest resource that failed for a reason of its own (EVENTS in any order)."""
    failed = [
        event
        for event in sorted(events, key=lambda event: event.timestamp)
        if event.status.endswith("_FAILED") and not event.is_stack
    ]
    own = [event for event in failed if not event.reason.startswith(_CANCELLED)]
    chosen = own or failed
    return chosen[0] if chosen else None


def rolled_back(events: Sequence[StackEvent]) -> list[str]:
    """What the rollback in EVENTS did to each resource, as "LogicalId (STATUS)", in order.

    A rollback begins with the stack's ``ROLLBACK_IN_PROGRESS`` or
    ``UPDATE_ROLLBACK_IN_PROGRESS``; the resource events after it are what it undid (a created
    resource deleted, an updated one updated back)."""
    ordered = sorted(events, key=lambda event: event.timestamp)
    start = next(
        (
            i
            for i, e in enumerate(ordered)
            if e.is_stack and e.status.endswith("ROLLBACK_IN_PROGRESS")
        ),
        None,
    )
    if start is None:
        return []
    done: dict[str, str] = {}
    for event in ordered[start + 1 :]:
        if not event.is_stack and not event.status.endswith("_IN_PROGRESS"):
            done[event.logical_id] = event.status
    return [f"{logical_id} ({status})" for logical_id, status in done.items()]


def latest_event_id(cloudformation: Any, stack_name: str) -> str | None:
    """The newest event's id: what a watcher starts after (None for no events)."""
    page = cloudformation.describe_stack_events(StackName=stack_name)
    events = page.get("StackEvents") or []
    return str(events[0]["EventId"]) if events else None


@dataclass
class Watcher:
    """Polls a stack's events and status until CloudFormation is done with it.

    SHOW receives each new event's line; TICK (a spinner, on a terminal only) is called on
    each poll with the seconds waited. SLEEP and CLOCK are injectable for tests."""

    cloudformation: Any
    stack_name: str
    show: Callable[[str], None]
    tick: Callable[[float], None] | None = None
    interval: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def follow(
        self, after: str | None, status: Callable[[], str | None]
    ) -> tuple[str, list[StackEvent]]:
        """Print the events after the event id AFTER until STATUS() (None: the stack is gone)
        is settled; return the last status ('' if gone) and every event seen."""
        seen: list[StackEvent] = []
        started = self.clock()
        while True:
            current = status()
            fresh = self._new_events(after)
            for event in fresh:
                self.show(event_line(event))
            seen += fresh
            after = fresh[-1].event_id if fresh else after
            if current is None or is_settled(current):
                return current or "", seen
            if self.tick is not None:
                self.tick(self.clock() - started)
            self.sleep(self.interval)

    def _new_events(self, after: str | None) -> list[StackEvent]:
        """The events newer than AFTER, oldest first (every page until AFTER is reached)."""
        newer: list[StackEvent] = []
        try:
            pages: Iterable[dict[str, Any]] = self.cloudformation.get_paginator(
                "describe_stack_events"
            ).paginate(StackName=self.stack_name)
            for page in pages:
                for data in page.get("StackEvents") or []:
                    if after is not None and data.get("EventId") == after:
                        return newer[::-1]
                    newer.append(StackEvent.from_api(data))
        except Exception as error:  # the stack was deleted between two polls
            if "does not exist" not in str(error):
                raise
        return newer[::-1]
