import asyncio

import pytest

from xinfang_common.keyed import KeyedLocks, KeyedRunner


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
