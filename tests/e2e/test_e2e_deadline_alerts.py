"""A backdated letter registered at intake runs out of time: its unit's webhook hears the
approaching, due and overdue alerts and the superior unit's webhook the escalation (督办).

Alerts runs here on a drill clock that goes 100 000 times faster than real time (about 1.2
simulated days per real second), so that fifteen days pass while the test waits.
"""

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from xinfang_common.testing.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

_NOW = datetime.now(UTC).isoformat()
SUITE_ENV = {
    "ALERTS_CLOCK_ORIGIN": _NOW,
    "ALERTS_CLOCK_REAL_ORIGIN": _NOW,
    "ALERTS_CLOCK_SPEED": "100000",
    "ALERTS_SCAN_INTERVAL_SECONDS": "0.5",
    "ALERTS_REGISTRATION_GRACE_SECONDS": "0",
    "ALERTS_DELIVERY_POLL_SECONDS": "0.2",
}
UNIT, SUPERIOR = "430104-zjj", "430104-xfj"
SECRET = "e2e-webhook-secret-0123456789"


class Receiver:
    """A webhook receiver recording path, body and signature of every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, str]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, body, self.headers.get("X-Xinfang-Signature", "")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def tiers(self, path: str, case_id: str) -> set[str]:
        found = set()
        for at, body, _ in self.received:
            data = json.loads(body).get("data", {})
            if at == path and data.get("case_id") == case_id:
                found.add(data["tier"])
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    yield hooks
    hooks.server.shutdown()


def test_a_backdated_letter_is_warned_about_then_escalated_to_the_superior(
    http: httpx.Client, urls: dict[str, str], staff: Callable[..., dict[str, str]], receiver: Receiver
) -> None:
    for code in (UNIT, SUPERIOR):
        subscribed = http.post(
            f"{urls['alerts']}/v1/subscriptions",
            json={"unit_code": code, "channel": "webhook", "url": f"{receiver.url}/{code}", "secret": SECRET},
            headers=staff(code, "supervisor"),
        )
        assert subscribed.status_code == 201, subscribed.text

    letter = {
        "channel": "letter",
        "petition_type": "claim",
        "category": "城乡建设",
        "region": "430104",
        "title": "来信反映安置房漏水长期未修",
        "content": "岳麓区某安置小区顶楼住户房屋漏水半年，多次向物业和街道反映未果，请求督促维修。",
        "received_at": (datetime.now(UTC) - timedelta(days=20)).isoformat(),
        "petitioners": [{"name": "陈七", "phone": "13600003333"}],
    }
    created = http.post(
        f"{urls['intake']}/v1/petitions", json=letter, headers=staff("430104-xfj", "registrar")
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    case = poll(
        lambda: http.get(f"{urls['intake']}/v1/petitions/{case_id}").json(), lambda c: c["assigned_unit"], 120
    )
    assert case["assigned_unit"]["code"] == UNIT

    poll(lambda: receiver.tiers(f"/{UNIT}", case_id), lambda t: {"approaching", "due", "overdue"} <= t, 120)
    poll(lambda: receiver.tiers(f"/{SUPERIOR}", case_id), lambda t: "escalated" in t, 120)
    for _, body, signature in receiver.received:
        assert signature == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    # The alerts carry the case, never the petitioner.
    assert not any(
        b"\xe9\x99\x88\xe4\xb8\x83" in body or b"13600003333" in body for _, body, _ in receiver.received
    )
