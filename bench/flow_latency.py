"""How long from `POST /v1/petitions` until intake shows the assigned unit, on a running suite.

Run `make up` in one shell, then `.venv/bin/python bench/flow_latency.py --count 200` in another.
Petitions are posted one after another (not concurrently), so the figure is the latency of the
whole path intake -> outbox -> Kafka -> routing -> Kafka -> intake, not a throughput test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx

PETITION = {
    "channel": "online",
    "category": "城乡建设",
    "region": "430104",
    "title": "小区旁工地夜间施工噪音扰民",
    "content": "某小区旁工地连续多日夜间施工，影响居民休息，请求相关部门处理。",
    "petitioners": [{"name": "张三", "phone": "13812345678"}],
}


def one(client: httpx.Client, base: str, timeout: float) -> float:
    """Seconds from sending the POST until the case shows its unit."""
    start = time.perf_counter()
    created = client.post(f"{base}/v1/petitions", json=PETITION)
    created.raise_for_status()
    case_id = created.json()["id"]
    while time.perf_counter() - start < timeout:
        if client.get(f"{base}/v1/petitions/{case_id}").json().get("assigned_unit"):
            return time.perf_counter() - start
        time.sleep(0.01)
    raise TimeoutError(f"case {case_id} not assigned within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--token-file",
        type=Path,
        default=Path("var/dev-admin.token"),
        help="bearer token to send (make up writes an admin one here)",
    )
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token_file.read_text().strip()}"}
    with httpx.Client(timeout=10, headers=headers) as client:
        one(client, args.intake, args.timeout)  # warm-up: connections, consumer assignment
        samples = sorted(one(client, args.intake, args.timeout) for _ in range(args.count))
    quantiles = statistics.quantiles(samples, n=100)
    print(f"petitions: {len(samples)}")
    print(
        f"POST -> assigned unit visible: p50 {quantiles[49] * 1000:.0f} ms, "
        f"p95 {quantiles[94] * 1000:.0f} ms, max {samples[-1] * 1000:.0f} ms"
    )
    print(f"goal: under 2000 ms -> {'met' if samples[-1] < 2 else 'NOT met'} for every petition")


if __name__ == "__main__":
    main()
