"""Routing's decisions seen from outside: an objection re-routes a case away from the objecting
unit, a second objection sends it to manual triage, and a repeat petition is linked."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from xinfang_common.testing.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def petition(marker: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "online",
        "petition_type": "claim",
        "category": "城乡建设",
        "region": "430103",
        "title": f"小区电梯长期故障无人维修 {marker}",
        "content": f"天心区某小区{marker}号楼电梯停运两个月，物业以维修资金未到位为由拒不维修，"
        "老人上下楼困难，请求督促解决。",
        "petitioners": [{"name": "王五", "phone": "13700001111"}],
    }
    body.update(overrides)
    return body


def test_an_objection_reroutes_and_a_second_one_goes_to_triage(
    http: httpx.Client, urls: dict[str, str], staff: Callable[..., dict[str, str]]
) -> None:
    intake, marker = urls["intake"], uuid.uuid4().hex[:6]
    case_id = http.post(f"{intake}/v1/petitions", json=petition(marker)).json()["id"]
    case = poll(lambda: http.get(f"{intake}/v1/petitions/{case_id}").json(), lambda c: c["assigned_unit"])
    first = case["assigned_unit"]["code"]

    reason = "电梯维修资金监管属住房保障部门职责，不属于本单位职权范围。"
    objected = http.post(
        f"{intake}/v1/petitions/{case_id}/actions",
        json={"action": "object", "reason": reason},
        headers=staff(first, "handler"),
    )
    assert objected.status_code == 200, (first, http.get(f"{intake}/v1/petitions/{case_id}").json())
    rerouted = poll(
        lambda: http.get(f"{intake}/v1/petitions/{case_id}").json(),
        lambda c: c["assigned_unit"] is not None and c["assigned_unit"]["code"] != first,
    )
    second = rerouted["assigned_unit"]["code"]
    assert rerouted["status"] == "routed"
    assignment = [e for e in rerouted["timeline"] if e["kind"] == "assigned"][-1]
    assert reason in assignment["detail"]["explanation"] or first in assignment["detail"]["explanation"]

    again = http.post(
        f"{intake}/v1/petitions/{case_id}/actions",
        json={"action": "object", "reason": "同样不属于本单位职权。"},
        headers=staff(second, "handler"),
    )
    assert again.status_code == 200, (second, http.get(f"{intake}/v1/petitions/{case_id}").json())
    triage = poll(
        lambda: http.get(f"{urls['routing']}/v1/triage").json(),
        lambda page: any(item["case_id"] == case_id for item in page["items"]),
    )
    waiting = next(item for item in triage["items"] if item["case_id"] == case_id)
    assert "objection" in waiting["reason"]


def test_a_repeat_petition_is_linked_to_the_earlier_case(http: httpx.Client, urls: dict[str, str]) -> None:
    intake, marker = urls["intake"], uuid.uuid4().hex[:6]
    earlier = http.post(f"{intake}/v1/petitions", json=petition(marker)).json()["id"]
    poll(lambda: http.get(f"{intake}/v1/petitions/{earlier}").json(), lambda c: c["assigned_unit"])
    repeat_body = petition(marker, petitioners=[{"name": "赵六", "phone": "13700002222"}])
    repeat_body["content"] = repeat_body["content"].replace("两个月", "已经两个多月")
    repeat = http.post(f"{intake}/v1/petitions", json=repeat_body).json()["id"]
    linked = poll(
        lambda: http.get(f"{intake}/v1/petitions/{repeat}").json(),
        lambda c: c["linked_case_id"] is not None and c["assigned_unit"] is not None,
    )
    assert linked["linked_case_id"] == earlier
    assert linked["link_kind"] == "in_progress"
    earlier_unit = http.get(f"{intake}/v1/petitions/{earlier}").json()["assigned_unit"]["code"]
    assert linked["assigned_unit"]["code"] == earlier_unit
