"""The org tree in force, kept in step with the compacted units topic.

The topic is the record: a unit changed through the API is published there first, and every
routing process (the one that published it too) applies what it reads from the topic, so two
replicas agree. The YAML file only seeds an empty topic.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from routing.metrics import UNITS_CHANGED
from routing.org_tree import OrgTree, OrgTreeError, Unit
from xinfang_common.cloudevents import CloudEvent, build_event, utcnow
from xinfang_common.events import UnitChanged
from xinfang_common.topics import UNIT_CHANGED

log = logging.getLogger(__name__)

UnitSender = Callable[[str, CloudEvent[UnitChanged] | None], Awaitable[None]]
"""Publishes one unit (or a tombstone, None, for a removed unit) keyed by unit code."""

_PROBLEM = re.compile(r"^(?:unit (?P<unit>\S+), )?field (?P<field>[^:]+): (?P<reason>.*)$")


def tree_problems(error: OrgTreeError) -> list[tuple[str | None, str, str]]:
    """``(unit, field, reason)`` for each problem an OrgTreeError lists."""
    found: list[tuple[str | None, str, str]] = []
    for line in str(error).splitlines():
        m = _PROBLEM.match(line.strip())
        if m:
            found.append((m["unit"], m["field"], m["reason"]))
    return found or [(None, "unit", str(error))]


async def _no_sender(code: str, event: CloudEvent[UnitChanged] | None) -> None:
    raise RuntimeError("units cannot be published before the stream has started")


class UnitRegistry:
    """The latest version of every unit read from the topic, and the last consistent tree of them."""

    def __init__(
        self, tree: OrgTree, *, sender: UnitSender = _no_sender, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.tree = tree
        self.sender = sender
        self._clock = clock
        self._latest: dict[str, Unit] = {}
        self.from_topic = False

    @property
    def seen_on_topic(self) -> int:
        """How many units the topic holds (as read so far)."""
        return len(self._latest)

    def apply(self, code: str, unit: Unit | None) -> bool:
        """Take in one message of the topic (None: the unit was removed); True if the tree changed.

        Units come from several partitions, so a child may be read before its parent; until the
        units read so far make a consistent tree, the previous tree stays in force.
        """
        if unit is None:
            self._latest.pop(code, None)
        else:
            self._latest[code] = unit
        if not self._latest:
            return False
        try:
            tree = OrgTree(list(self._latest.values()))
        except OrgTreeError as exc:
            log.info("units read so far do not make a tree yet", extra={"reason": str(exc)[:300]})
            return False
        self.tree = tree
        self.from_topic = True
        return True

    def _event(self, unit: Unit) -> CloudEvent[UnitChanged]:
        return build_event(
            unit.to_event(self._clock()),
            event_type=UNIT_CHANGED.event_type,
            source=UNIT_CHANGED.source,
            key=unit.code,
        )

    async def publish_all(self, units: Sequence[Unit]) -> None:
        """Publish every unit (seeding an empty topic from the YAML file)."""
        for unit in units:
            await self.sender(unit.code, self._event(unit))
            UNITS_CHANGED.inc()
            # Known at once, so that reading them back one partition at a time never leaves a
            # part of the tree in force.
            self._latest[unit.code] = unit

    async def put(self, unit: Unit) -> bool:
        """Create or replace one unit after checking the whole tree; True when it is new."""
        tree = self.tree.replacing(unit)
        created = unit.code not in self.tree
        await self.sender(unit.code, self._event(unit))
        UNITS_CHANGED.inc()
        # Applied here too, so that the caller's next read sees it; the topic brings the same.
        self.apply(unit.code, unit)
        self.tree = tree
        return created

    async def replace_all(self, units: Sequence[Unit]) -> None:
        """Replace the whole tree; units missing from ``units`` are removed (tombstones)."""
        tree = OrgTree(units)
        removed = [u.code for u in self.tree if u.code not in tree]
        await self.publish_all(units)
        for code in removed:
            await self.sender(code, None)
            self._latest.pop(code, None)
        for unit in units:
            self._latest[unit.code] = unit
        self.tree = tree
