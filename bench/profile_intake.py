"""Profile intake's POST /v1/petitions under load with py-spy (sampling the uvicorn process).

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_intake.py --seconds 30 --out /tmp/intake-profile
    .venv/bin/python bench/profile_intake.py --seconds 40 --connections 32 --cpu-only

Starts a broker and intake alone (the hot path needs nothing else; the outbox relay still
publishes), loads it as fast as --connections clients can, and records two py-spy profiles of the
uvicorn process meanwhile: a flame graph (SVG) and a raw collapsed-stack recording. Then prints
the functions with the most samples, own and cumulative, from the raw recording.

Either way it prints the CPU time intake's process spent per registration (user + system over
the timed load and the relay's publishing after it). On 2 cores the generator and the broker
share the CPUs with intake, so throughput moves with whatever else runs; CPU per registration
is the figure to compare two versions by. ``--cpu-only`` leaves py-spy out (its sampling costs
intake time too).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchlib import BenchSuite, PetitionSource, cpu_seconds, load_complaints, machine_line
from load import run_load


def summarize(
    collapsed: Path, top: int, within: str = "register_petition (intake/petitions/endpoints.py"
) -> list[str]:
    """Top functions by own and cumulative samples (GIL held) from a py-spy raw file.

    The split by thread shows where the interpreter's time goes (event loop, request threads,
    outbox relay, Kafka client); the cumulative list is restricted to the POST handler's stacks.
    """
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = handler = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        joined = ";".join(frames)
        if within in joined:
            handler += n
            for frame in set(frames):
                cumulative[frame] += n
        if "uvicorn/server.py" in joined:
            threads["event loop (uvicorn, HTTP parsing, FastAPI routing)"] += n
        elif within in joined:
            threads["request threads: POST /v1/petitions handler"] += n
        elif "outbox.py" in joined:
            threads["outbox relay thread"] += n
        elif "kafka/" in joined:
            threads["kafka-python I/O threads"] += n
        else:
            threads["other"] += n
    lines = [f"samples with the GIL held: {total}", "by thread:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common()]
    lines.append("own time, every thread:")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append(f"cumulative within the POST handler ({100 * handler / max(total, 1):.1f}% of all samples):")
    lines += [f"  {100 * n / max(handler, 1):5.1f}%  {frame}" for frame, n in cumulative.most_common(top)]
    return lines


_PUBLISHED_SECONDS = 3.0
"""Long enough for the relay to publish what the load left in the outbox, on a loaded machine."""


async def _load(suite: BenchSuite, seconds: float, connections: int) -> None:
    source = PetitionSource(load_complaints())
    url = f"{suite.urls['intake']}/v1/petitions"
    headers = {"Authorization": f"Bearer {suite.admin_token()}"}
    await run_load(url, source, headers=headers, count=100, connections=4)
    pid = suite.pid("intake")
    await asyncio.sleep(_PUBLISHED_SECONDS)
    cpu_before = cpu_seconds(pid)
    result = await run_load(url, source, headers=headers, duration=seconds, connections=connections)
    await asyncio.sleep(_PUBLISHED_SECONDS)
    spent = cpu_seconds(pid) - cpu_before
    for line in result.report():
        print(line)
    acked = len(result.acked)
    print(
        f"intake process CPU: {spent:.1f} s for {acked} registrations, "
        f"{1000 * spent / max(acked, 1):.2f} ms each (relay's publishing included)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path("/tmp/intake-profile"))
    parser.add_argument("--cpu-only", action="store_true", help="no py-spy: CPU per registration only")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    with BenchSuite(services=("intake",)) as suite:
        pid = str(suite.pid("intake"))
        duration = str(int(args.seconds))
        common = ["--pid", pid, "--duration", duration, "--rate", str(args.rate), "--nonblocking"]
        recorders = (
            []
            if args.cpu_only
            else [
                subprocess.Popen(
                    [py_spy, "record", *common, "--gil", "--format", "raw", "-o", str(args.out / "raw.txt")]
                ),
                subprocess.Popen(
                    [py_spy, "record", *common, "--format", "flamegraph", "-o", str(args.out / "flame.svg")]
                ),
            ]
        )
        asyncio.run(_load(suite, args.seconds + 2, args.connections))
        for recorder in recorders:
            recorder.wait(timeout=120)
    if args.cpu_only:
        return 0
    for line in summarize(args.out / "raw.txt", args.top):
        print(line)
    print(f"flame graph: {args.out / 'flame.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
