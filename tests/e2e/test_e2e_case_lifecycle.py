"""A case's whole life across the running suite: registration retried, units acting under their
tokens, the petitioner rating and asking for a review that routing hands to the superior unit,
and a legacy import flowing through routing like a live case."""

import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from xinfang_common.testing.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

PETITION = {
    "channel": "letter",
    "petition_type": "suggestion",
    "category": "城乡建设",
    "region": "430104",
    "title": "建议在桃花岭路口增设人行横道",
    "content": "桃花岭路与麓山南路交叉口车流量大，行人过街困难，建议增设人行横道和信号灯。",
    "petitioners": [{"name": "李四", "phone": "13987654321"}],
}


def test_registration_actions_rating_and_review_by_the_superior_unit(
    http: httpx.Client, urls: dict[str, str], staff: Callable[..., dict[str, str]]
) -> None:
    intake = urls["intake"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = http.post(
        f"{intake}/v1/petitions", json=PETITION, headers={**key, **staff("430104-xfj", "registrar")}
    )
    again = http.post(
        f"{intake}/v1/petitions", json=PETITION, headers={**key, **staff("430104-xfj", "registrar")}
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    case_id, code = first.json()["id"], first.json()["tracking_code"]

    case = poll(lambda: http.get(f"{intake}/v1/petitions/{case_id}").json(), lambda c: c["assigned_unit"])
    unit = case["assigned_unit"]["code"]
    handler = staff(unit, "handler")
    other = staff("430102-zjj" if unit != "430102-zjj" else "430103-zjj", "handler")
    actions = f"{intake}/v1/petitions/{case_id}/actions"

    assert http.get(f"{intake}/v1/petitions/{case_id}", headers=other).status_code == 404
    assert http.post(actions, json={"action": "accept"}, headers=other).status_code == 404
    early = http.post(actions, json={"action": "reply", "opinion": "已采纳。"}, headers=handler)
    assert early.status_code == 409
    assert "accept" in early.json()["allowed_actions"]
    assert http.post(actions, json={"action": "accept"}, headers=handler).status_code == 200
    replied = http.post(
        actions, json={"action": "reply", "opinion": "已商交警部门，年内增设人行横道。"}, headers=handler
    )
    assert replied.status_code == 200, replied.text

    track = f"{intake}/v1/track/{code}"
    assert http.post(f"{track}/rating", json={"satisfaction": "dissatisfied"}).status_code == 201
    assert http.post(f"{track}/rating", json={"satisfaction": "satisfied"}).status_code == 409
    assert http.post(f"{track}/review", json={"reason": "答复未明确完成时间，请求复查。"}).status_code == 201

    # Routing hands the review to the next superior unit; the case keeps waiting for the answer.
    reviewing = poll(
        lambda: http.get(f"{intake}/v1/petitions/{case_id}").json(),
        lambda c: c["assigned_unit"]["code"] != unit,
    )
    assert reviewing["status"] == "review_requested"
    superior = reviewing["assigned_unit"]["code"]
    answer = {"action": "review_reply", "opinion": "经复查，原答复意见予以维持，并督促按期落实。"}
    assert http.post(actions, json=answer, headers=handler).status_code == 404
    reviewed = http.post(actions, json=answer, headers=staff(superior, "handler"))
    assert reviewed.status_code == 200, reviewed.text
    assert http.get(track).json()["status"] == "reviewed"


def test_an_imported_case_with_its_timeline_is_assigned_as_of_history(
    http: httpx.Client, urls: dict[str, str], staff: Callable[..., dict[str, str]]
) -> None:
    intake = urls["intake"]
    external_id = f"LEGACY-{uuid.uuid4().hex[:10]}"
    line = {
        "external_id": external_id,
        "channel": "letter",
        "petition_type": "claim",
        "category": "劳动和社会保障",
        "title": "某公司拖欠农民工工资",
        "content": "某建筑公司拖欠二十余名农民工三个月工资，请求督促支付。",
        "region": "430102",
        "unit_code": "430102-rsj",
        "received_at": "2019-06-03 09:00:00",
        "timeline": [
            {"kind": "accepted", "at": "2019-06-05 10:00:00"},
            {
                "kind": "replied",
                "at": "2019-07-20 16:00:00",
                "opinion": "已督促企业足额支付。",
                "outcome": "supported",
            },
            {"kind": "rated", "at": "2019-07-25 09:00:00", "satisfaction": "satisfied"},
            {"kind": "closed", "at": "2019-07-26 09:00:00"},
        ],
    }
    upload = http.post(
        f"{intake}/v1/imports",
        content=(json.dumps(line, ensure_ascii=False) + "\n").encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert upload.status_code == 202, upload.text
    job = poll(
        lambda: http.get(f"{intake}{upload.headers['Location']}").json(), lambda j: j["status"] == "done"
    )
    assert job["imported"] == 1
    assert job["failed"] == 0

    found = http.get(f"{intake}/v1/petitions", params={"q": "拖欠二十余名农民工"}).json()["items"]
    case_id = next(item["id"] for item in found)
    case = poll(
        lambda: http.get(f"{intake}/v1/petitions/{case_id}").json(),
        lambda c: any(e["kind"] == "assigned" for e in c["timeline"]),
    )
    assert case["status"] == "closed"
    assert case["assigned_unit"]["code"] == "430102-rsj"
    assert case["assigned_unit"]["assigned_at"].startswith("2019-06-03")
    assert [e["kind"] for e in case["timeline"]][:5] == [
        "registered",
        "accepted",
        "replied",
        "rated",
        "closed",
    ]
    # The same file again imports nothing new.
    again = http.post(
        f"{intake}/v1/imports",
        content=(json.dumps(line, ensure_ascii=False) + "\n").encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    repeat = poll(
        lambda: http.get(f"{intake}{again.headers['Location']}").json(), lambda j: j["status"] == "done"
    )
    assert repeat["skipped_existing"] == 1
