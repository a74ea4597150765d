"""A petition travels from intake through routing to alerts and reporting over the real broker.

Only HTTP (and, to check what crossed the wire, the Kafka topic) is used: no service code is
imported, as a user integrating the suite would see it.
"""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.testing.waiting import poll
from xinfang_common.topics import PETITION_REGISTERED

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

SHANGHAI = ZoneInfo("Asia/Shanghai")

PETITION = {
    "channel": "online",
    "category": "城乡建设",
    "region": "430104",
    "title": "小区旁工地夜间施工噪音扰民",
    "content": "某小区旁工地连续多日夜间施工，影响居民休息，请求相关部门处理。",
    "petitioners": [{"name": "张三", "phone": "13812345678", "id_number": "11010519491231002X"}],
}


def summary(http: httpx.Client, urls: dict[str, str]) -> dict[str, Any]:
    response = http.get(f"{urls['reporting']}/v1/stats/summary")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_petition_is_registered_routed_scheduled_and_counted(http, urls, suite_kafka_broker):
    before = summary(http, urls)

    created = http.post(f"{urls['intake']}/v1/petitions", json=PETITION)

    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    assert len(created.json()["tracking_code"].replace("-", "")) == 16

    case = poll(
        lambda: http.get(f"{urls['intake']}/v1/petitions/{case_id}").json(),
        lambda body: body.get("assigned_unit") is not None,
    )
    assert case["status"] == "routed"
    assert case["assigned_unit"]["code"].startswith("430104")
    assert [entry["kind"] for entry in case["timeline"]] == ["registered", "assigned"]
    assert "城乡建设" in case["timeline"][1]["detail"]["explanation"]
    assert "张三" not in str(case["petitioners"])
    assert "13812345678" not in str(case["petitioners"])

    deadlines = poll(
        lambda: http.get(f"{urls['alerts']}/v1/deadlines/{case_id}"),
        lambda response: (
            response.status_code == 200
            and any(d["kind"] == "acceptance" for d in response.json()["deadlines"])
        ),
    ).json()
    acceptance = next(d for d in deadlines["deadlines"] if d["kind"] == "acceptance")
    assigned_day = datetime.fromisoformat(case["assigned_unit"]["assigned_at"]).astimezone(SHANGHAI).date()
    due = datetime.fromisoformat(acceptance["due_at"]).astimezone(SHANGHAI)
    assert due.time() == datetime.min.time()  # 24:00 of the last day
    # 15 calendar days, not counting the start day; later only if the 15th is a rest day.
    assert timedelta(days=15) <= (due.date() - timedelta(days=1)) - assigned_day <= timedelta(days=25)

    after = poll(
        lambda: summary(http, urls),
        lambda s: s["registered"] >= before["registered"] + 1 and s["assigned"] >= before["assigned"] + 1,
    )
    assert after["registered"] - after["assigned"] == after["awaiting_assignment"]

    published = read_messages(
        suite_kafka_broker,
        PETITION_REGISTERED.name,
        until=lambda msgs: any(m.key == case_id.encode() for m in msgs),
    )
    raw = next(m.value for m in published if m.key == case_id.encode())
    for secret in ("张三", "13812345678", "11010519491231002X"):
        assert secret.encode() not in raw


def test_the_petitioner_tracks_the_case_by_code_and_sees_the_unit_and_acceptance_deadline(http, urls):
    created = http.post(f"{urls['intake']}/v1/petitions", json=PETITION)
    assert created.status_code == 201, created.text
    case_id, code = created.json()["id"], created.json()["tracking_code"]

    # Polled on the staff view: the tracking endpoints are rate limited per address.
    poll(
        lambda: http.get(f"{urls['intake']}/v1/petitions/{case_id}").json(),
        lambda body: (
            body.get("assigned_unit") is not None
            and any(d["kind"] == "acceptance" for d in body.get("deadlines", []))
        ),
    )
    response = http.get(f"{urls['intake']}/v1/track/{code}")
    assert response.status_code == 200, response.text
    tracked = response.json()
    assert tracked["status"] == "routed"
    assert [step["kind"] for step in tracked["timeline"]] == ["registered", "assigned"]
    assert tracked["unit_name"] in tracked["timeline"][1]["text"]
    acceptance = next(d for d in tracked["deadlines"] if d["kind"] == "acceptance")
    assert datetime.fromisoformat(acceptance["due_at"]).astimezone(SHANGHAI).time() == datetime.min.time()
    for secret in ("张三", "13812345678", "11010519491231002X"):
        assert secret not in str(tracked)


def test_a_petition_accepted_while_routing_is_down_is_routed_when_it_returns(suite, http, urls):
    suite.stop("routing", kill=True)
    try:
        created = http.post(f"{urls['intake']}/v1/petitions", json={**PETITION, "region": "430102"})
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]
        assert http.get(f"{urls['intake']}/v1/petitions/{case_id}").json()["status"] == "registered"
    finally:
        suite.start("routing")
        suite.wait_ready(timeout=120)

    case = poll(
        lambda: http.get(f"{urls['intake']}/v1/petitions/{case_id}").json(),
        lambda body: body.get("assigned_unit") is not None,
    )
    assert case["assigned_unit"]["code"].startswith("430102")


def test_bad_input_gets_422_naming_each_field(http, urls):
    bad = {**PETITION, "channel": "pigeon", "region": "12"}
    del bad["title"]

    response = http.post(f"{urls['intake']}/v1/petitions", json=bad)

    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["fields"]}
    assert {"channel", "region", "title"} <= fields


def test_unknown_case_is_404_not_500(http, urls):
    response = http.get(f"{urls['intake']}/v1/petitions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["error"] == "PetitionNotFound"


@pytest.mark.parametrize("service", ["intake", "routing", "alerts", "reporting"])
def test_every_service_answers_health_readiness_and_metrics(http, urls, service):
    base = urls[service]
    assert http.get(f"{base}/healthz").status_code == 200
    assert http.get(f"{base}/readyz").status_code == 200
    metrics = http.get(f"{base}/metrics")
    assert metrics.status_code == 200
    assert f"xinfang_{service}_" in metrics.text
