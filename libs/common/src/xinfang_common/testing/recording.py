"""A stand-in for a faust topic in unit tests: it records what would have been sent."""

from __future__ import annotations

import asyncio
from typing import Any


class RecordingTopic:
    """Collects the keyword arguments of every ``send`` (key, value, headers) in ``sent``."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> asyncio.Future[None]:
        """Record the message; the returned future is already done, as an acknowledged send."""
        self.sent.append(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
