"""Profile intake's POST /v1/petitions under load with py-spy (sampling the uvicorn process).

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_intake.py --seconds 30 --out /tmp/intake-profile

Starts a broker and intake alone (the hot path needs nothing else; the outbox relay still
publishes), loads it as fast as --connections clients can, and records two py-spy profiles of the
uvicorn process meanwhile: a flame graph (SVG) and a speedscope file. Then prints the functions
with the most samples, own and cumulative, from a raw collapsed-stack recording.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchlib import BenchSuite, PetitionSource, load_complaints, machine_line
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


async def _load(suite: BenchSuite, seconds: float, connections: int) -> None:
    source = PetitionSource(load_complaints())
    url = f"{suite.urls['intake']}/v1/petitions"
    headers = {"Authorization": f"Bearer {suite.admin_token()}"}
    await run_load(url, source, headers=headers, count=100, connections=4)
    result = await run_load(url, source, headers=headers, duration=seconds, connections=connections)
    for line in result.report():
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path("/tmp/intake-profile"))
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    with BenchSuite(services=("intake",)) as suite:
        pid = str(suite.pid("intake"))
        duration = str(int(args.seconds))
        common = ["--pid", pid, "--duration", duration, "--rate", str(args.rate), "--nonblocking"]
        recorders = [
            subprocess.Popen(
                [py_spy, "record", *common, "--gil", "--format", "raw", "-o", str(args.out / "raw.txt")]
            ),
            subprocess.Popen(
                [py_spy, "record", *common, "--format", "flamegraph", "-o", str(args.out / "flame.svg")]
            ),
        ]
        asyncio.run(_load(suite, args.seconds + 2, args.connections))
        for recorder in recorders:
            recorder.wait(timeout=120)
    for line in summarize(args.out / "raw.txt", args.top):
        print(line)
    print(f"flame graph: {args.out / 'flame.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
