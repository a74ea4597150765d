"""Keeping the objects a service makes at start-up out of the garbage collector's full passes."""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_startup_heap() -> None:
    """Move every object alive now to the collector's permanent generation, once per process.

    A full collection walks every tracked object, and importing FastAPI, SQLAlchemy, pydantic and
    faust leaves some 200,000: one full pass took 130-160 ms on 2 cores, added to whichever
    request happened to allocate the object that triggered it (the KPI query's 95th percentile
    was mostly such pauses). Frozen objects are never freed; those made at start-up live as long
    as the process anyway. Once per process, so that a process starting many apps (the tests)
    does not pin each one's objects.
    """
    global _frozen
    with _lock:
        if _frozen:
            return
        gc.collect()
        gc.freeze()
        _frozen = True
