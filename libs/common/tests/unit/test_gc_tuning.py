"""Start-up objects are frozen once per process, not once per app."""

from __future__ import annotations

import gc

from xinfang_common import gc_tuning


def test_the_startup_heap_is_frozen_once_per_process() -> None:
    gc_tuning.freeze_startup_heap()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    made_after = [[n] for n in range(1000)]  # tracked objects, which a second freeze would pin
    gc_tuning.freeze_startup_heap()
    assert gc.get_freeze_count() == frozen
    assert len(made_after) == 1000
