"""Keeps the text classifier named in the configuration loaded, reloading it when its file changes."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from routing.classifier import ClassifierError, TextClassifier

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class _Stamp:
    """What tells a changed file apart: modification time and size."""

    mtime_ns: int
    size: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _Stamp(stat.st_mtime_ns, stat.st_size)


class ClassifierWatcher:
    """The model in force; ``refresh`` swaps in a changed file, a broken one keeps the old model."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.current: TextClassifier | None = None
        self.last_error: str | None = None
        self._seen: _Stamp | None = None

    def load(self) -> None:
        """Load the configured model now; ClassifierError when the file is missing or unusable."""
        if self.path is None:
            return
        stamp = _stamp(self.path)
        self.current = TextClassifier.load(self.path)
        self._seen = stamp
        self.last_error = None

    def refresh(self) -> bool:
        """Reload the model if its file changed since the last look; True when a new one is in force."""
        if self.path is None:
            return False
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._seen:
            # A file that disappears keeps the model in force: routing on goes on as before.
            return False
        self._seen = stamp
        try:
            classifier = TextClassifier.load(self.path)
        except ClassifierError as exc:
            self.last_error = str(exc)
            log.error("classifier model not reloaded; the previous one stays in force: %s", exc)
            return False
        self.current = classifier
        self.last_error = None
        log.info(
            "classifier model loaded",
            extra={"path": str(self.path), "labels": len(classifier.labels), "rows": classifier.rows},
        )
        return True

    async def watch(self, every_seconds: float = RELOAD_CHECK_SECONDS) -> None:
        """Call ``refresh`` every ``every_seconds`` until cancelled; loading runs off the event loop."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # never let the watcher die: the next look may succeed
                log.exception("classifier model check failed")
