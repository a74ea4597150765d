import asyncio

import pytest

from xinfang_common.keyed import InOrderAcks, KeyedLocks, KeyedRunner, consume_by_key


def test_one_keys_jobs_run_in_order_while_other_keys_overlap():
    async def run() -> tuple[list[str], int]:
        runner = KeyedRunner(limit=8)
        log: list[str] = []
        acked: list[str] = []
        running = 0
        most = 0

        def job(name: str, pause: float):
            async def work() -> None:
                nonlocal running, most
                running += 1
                most = max(most, running)
                log.append(f"start {name}")
                await asyncio.sleep(pause)
                log.append(f"end {name}")
                running -= 1

            return work

        # a1 is slow; a2 must still wait for it, while b1 runs beside a1.
        for key, name, pause in (("a", "a1", 0.05), ("b", "b1", 0.01), ("a", "a2", 0.0), ("b", "b2", 0.0)):
            await runner.submit(key, job(name, pause), lambda name=name: acked.append(name))
        await runner.drain()
        assert log.index("end a1") < log.index("start a2")
        assert log.index("end b1") < log.index("start b2")
        assert sorted(acked) == ["a1", "a2", "b1", "b2"]
        assert runner.keys_in_flight == 0
        return log, most

    _, most = asyncio.run(run())
    assert most >= 2


def test_the_limit_holds_submitters_back_and_a_failing_job_is_still_acknowledged():
    async def run() -> None:
        runner = KeyedRunner(limit=2)
        acked: list[int] = []
        gate = asyncio.Event()

        async def blocked() -> None:
            await gate.wait()

        async def broken() -> None:
            raise RuntimeError("boom")

        await runner.submit("x", blocked, lambda: acked.append(1))
        await runner.submit("y", broken, lambda: acked.append(2))
        third = asyncio.create_task(runner.submit("z", blocked, lambda: acked.append(3)))
        await asyncio.sleep(0.01)
        # The broken job finished (and was acknowledged), freeing one slot for the third.
        assert acked == [2]
        await asyncio.wait_for(third, 1)
        gate.set()
        await runner.drain()
        assert sorted(acked) == [1, 2, 3]

    asyncio.run(run())


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        KeyedRunner(limit=0)


def test_keyed_locks_exclude_per_key_and_are_dropped_when_free():
    async def run() -> None:
        locks = KeyedLocks()
        order: list[str] = []

        async def hold(key: str, name: str, pause: float) -> None:
            async with locks.hold(key):
                order.append(f"in {name}")
                await asyncio.sleep(pause)
                order.append(f"out {name}")

        await asyncio.gather(hold("k", "first", 0.02), hold("k", "second", 0), hold("j", "other", 0))
        assert order.index("out first") < order.index("in second")
        assert order.index("in other") < order.index("out first")
        assert len(locks) == 0

    asyncio.run(run())


class _Message:
    def __init__(self, tp: str, offset: int) -> None:
        self.tp = tp
        self.offset = offset


class _Event:
    def __init__(self, tp: str, offset: int) -> None:
        self.message = _Message(tp, offset)
        self.key = f"case-{tp}-{offset}".encode()


def test_acknowledgements_follow_each_partitions_reading_order_whatever_order_work_ends_in():
    async def run() -> None:
        acked: list[tuple[str, int]] = []

        async def ack(event: _Event) -> None:
            acked.append((event.message.tp, event.message.offset))

        acks = InOrderAcks(ack)
        entries = {(tp, o): acks.read(_Event(tp, o)) for tp in ("p0", "p1") for o in (10, 11, 12)}
        # p0's 11 and 12 end first: neither may be acknowledged while 10 is still in flight,
        # else a commit could pass 10 and a crash lose it.
        await acks.done(entries["p0", 12])
        await acks.done(entries["p0", 11])
        await acks.done(entries["p1", 10])
        assert acked == [("p1", 10)]
        await acks.done(entries["p0", 10])
        assert acked == [("p1", 10), ("p0", 10), ("p0", 11), ("p0", 12)]
        await acks.done(entries["p1", 12])
        assert acks.waiting == 2  # 12 is done but waits for 11
        await acks.done(entries["p1", 11])
        assert acked[-2:] == [("p1", 11), ("p1", 12)]
        assert acks.waiting == 0

    asyncio.run(run())


def test_a_partition_read_again_after_a_rebalance_queues_behind_what_was_read_before():
    async def run() -> None:
        acked: list[int] = []
        acks = InOrderAcks(lambda event: acked.append(event.message.offset))
        old_10 = acks.read(_Event("p0", 10))
        old_11 = acks.read(_Event("p0", 11))
        # The partition came back from the committed offset, 10, while the old work still runs.
        new_10 = acks.read(_Event("p0", 10))
        await acks.done(new_10)
        await acks.done(old_11)
        assert acked == []
        await acks.done(old_10)
        assert acked == [10, 11, 10]

    asyncio.run(run())


def test_consume_by_key_acknowledges_in_reading_order_while_work_overlaps():
    class _Stream:
        def __init__(self, events: list[_Event]) -> None:
            self._events = events
            self.acked: list[int] = []
            self.all_acked = asyncio.Event()

        def noack(self) -> "_Stream":
            return self

        async def events(self):  # type: ignore[no-untyped-def]
            for event in self._events:
                yield event

        async def ack(self, event: _Event) -> None:
            self.acked.append(event.message.offset)
            if len(self.acked) == len(self._events):
                self.all_acked.set()

    async def run() -> tuple[list[int], list[int]]:
        stream = _Stream([_Event("p0", offset) for offset in range(6)])
        finished: list[int] = []

        async def handle(event: _Event) -> None:
            # Earlier offsets take longer, so the work ends in reverse order.
            await asyncio.sleep(0.01 * (6 - event.message.offset))
            finished.append(event.message.offset)

        async for _ in consume_by_key(stream, handle, in_flight=6):
            pass
        await asyncio.wait_for(stream.all_acked.wait(), 5)
        return finished, stream.acked

    finished, acked = asyncio.run(run())
    assert finished == [5, 4, 3, 2, 1, 0]
    assert acked == [0, 1, 2, 3, 4, 5]
