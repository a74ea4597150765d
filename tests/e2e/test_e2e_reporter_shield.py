"""Art. 30 end to end: the reported unit reads nothing that identifies the reporter, anywhere."""

import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from xinfang_common.devrun import Suite
from xinfang_common.testing.kafka_reader import read_to_end
from xinfang_common.testing.waiting import poll
from xinfang_common.topics import TOPICS

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

REPORTED = "430104-zjj"
"""The unit the report accuses: 岳麓区住房和城乡建设局 in the demo tree."""

NAME, ID_NUMBER, PHONE, ADDRESS = "欧阳明远", "430104198807150032", "13974151234", "岳麓区桃花岭路88号3栋"
PLANTED = (NAME, ID_NUMBER, PHONE[-8:], ADDRESS)


def test_the_reported_unit_cannot_read_the_report_or_its_reporter(
    http: httpx.Client,
    urls: dict[str, str],
    staff: Callable[..., dict[str, str]],
    suite_kafka_broker: str,
) -> None:
    intake = urls["intake"]
    marker = uuid.uuid4().hex[:8]
    created = http.post(
        f"{intake}/v1/petitions",
        headers=staff("430104-xfj", "registrar"),
        json={
            "channel": "visit",
            "petition_type": "report",
            "region": "430104",
            "subject_unit": REPORTED,
            "title": f"举报区住建局工作人员违规收取审批费用 {marker}",
            "content": "举报岳麓区住建局某科室工作人员在办理施工许可时以加急为名收取费用。",
            "petitioners": [{"name": NAME, "id_number": ID_NUMBER, "phone": PHONE, "address": ADDRESS}],
        },
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    case = poll(
        lambda: http.get(f"{intake}/v1/petitions/{case_id}").json(),
        lambda c: c.get("assigned_unit") is not None,
    )
    assigned = case["assigned_unit"]["code"]
    assert assigned != REPORTED

    # Everyone at the reported unit, whatever the role, finds nothing: not the case, not in a
    # list, not by searching its text, not its petitioners.
    for roles in (("handler",), ("supervisor",), ("registrar",), ("auditor",), ("admin",)):
        headers = staff(REPORTED, *roles)
        assert http.get(f"{intake}/v1/petitions/{case_id}", headers=headers).status_code == 404
        listed = http.get(f"{intake}/v1/petitions", params={"q": marker}, headers=headers)
        assert listed.status_code == 200
        assert listed.json()["items"] == []
        petitioners = http.get(f"{intake}/v1/petitions/{case_id}/petitioners", headers=headers)
        assert petitioners.status_code in (403, 404)
        open311 = http.get(f"{intake}/open311/v2/requests/{case_id}.json")
        assert not any(value in open311.text for value in PLANTED)

    # The unit it was assigned to can read the reporter, audited.
    handler = staff(assigned, "handler")
    full = http.get(f"{intake}/v1/petitions/{case_id}/petitioners", headers=handler)
    assert full.status_code == 200
    assert full.json()["petitioners"][0]["name"] == NAME

    # No topic carries the reporter's identity: not the events a unit's systems could consume,
    # not any other.
    for spec in TOPICS:
        for message in read_to_end(suite_kafka_broker, spec.name):
            if message.key != case_id.encode():
                continue
            body = message.value.decode()
            leaked = [value for value in PLANTED if value in body or json.dumps(value)[1:-1] in body]
            assert not leaked, f"{spec.name} carries {leaked}"


def test_no_log_line_of_any_service_carries_the_planted_personal_data(suite: Suite) -> None:
    # Runs after the report above went through all four services (same module, same suite).
    logs = sorted(suite.log_dir.glob("*.log"))
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        leaked = [value for value in PLANTED if value in text]
        assert not leaked, f"{log.name} carries {leaked}"
