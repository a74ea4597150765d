"""What the petitioner sends and sees through the tracking code (查询码)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from xinfang_common.domain import DeadlineKind, Outcome, ReplyStage, ReviewStage, Satisfaction

_IN = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TrackedStep(BaseModel):
    """One step of the case in public wording: no staff ids, no internal notes."""

    at: datetime
    kind: str = Field(description="machine value: registered, assigned, accepted, declined, ...")
    text: str = Field(description="the step in plain words")
    note: str | None = Field(
        default=None,
        description="what the petitioner is owed in writing: the reason of a decline or of an extension",
    )


class TrackedDeadline(BaseModel):
    """A legal deadline of the case."""

    kind: DeadlineKind
    text: str = Field(description="the deadline in plain words")
    due_at: datetime = Field(description="the instant the period ends (24:00 local time of its last day)")


class TrackedReply(BaseModel):
    """The latest written answer on the matter."""

    sequence: int = Field(
        description="1 for the first reply, then one more for each review or recheck answer"
    )
    stage: ReplyStage
    opinion: str
    outcome: Outcome | None
    replied_at: datetime
    rating: Satisfaction | None = Field(description="the petitioner's rating of this answer, once given")


class NextSteps(BaseModel):
    """What the petitioner may do now, and until when."""

    can_rate: bool = Field(description="the latest answer may be rated now (once per answer)")
    request: ReviewStage | None = Field(
        description="review (复查) or recheck (复核) may be requested now; null when not"
    )
    request_until: datetime | None = Field(description="the request must arrive before this instant")
    final: bool = Field(description="the matter was rechecked and is final (Art. 36)")
    why_not: str | None = Field(default=None, description="why no review or recheck can be requested now")


class TrackedCase(BaseModel):
    """A case as its tracking code's holder sees it; nobody's personal data."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "replied",
                    "status_text": "已出具处理意见",
                    "title": "小区楼下夜间施工噪音扰民",
                    "registered_at": "2026-03-02T09:30:00Z",
                    "unit_name": "岳麓区住房和城乡建设局",
                    "timeline": [
                        {"at": "2026-03-02T09:30:00Z", "kind": "registered", "text": "已登记", "note": None},
                        {
                            "at": "2026-03-02T09:30:02Z",
                            "kind": "assigned",
                            "text": "已转送岳麓区住房和城乡建设局办理",
                            "note": None,
                        },
                    ],
                    "deadlines": [
                        {"kind": "acceptance", "text": "告知是否受理的期限", "due_at": "2026-03-17T16:00:00Z"}
                    ],
                    "reply": {
                        "sequence": 1,
                        "stage": "reply",
                        "opinion": "经核查，该工地确有夜间违规施工行为，已责令其停止夜间作业并依法处罚。",
                        "outcome": "supported",
                        "replied_at": "2026-05-08T07:45:00Z",
                        "rating": None,
                    },
                    "next": {
                        "can_rate": True,
                        "request": "review",
                        "request_until": "2026-06-07T16:00:00Z",
                        "final": False,
                        "why_not": None,
                    },
                }
            ]
        }
    )

    status: str = Field(description="machine value of the case status")
    status_text: str = Field(description="the status in plain words")
    title: str
    registered_at: datetime
    unit_name: str | None = Field(description="the unit handling the matter, once routed")
    timeline: list[TrackedStep]
    deadlines: list[TrackedDeadline]
    reply: TrackedReply | None = Field(description="the latest written answer, once there is one")
    next: NextSteps


class RatingCreate(BaseModel):
    """The petitioner's rating of the latest answer (满意度评价)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"satisfaction": "basically_satisfied", "comment": "处理及时，但整改仍需跟进。"}]
        },
    )

    satisfaction: Satisfaction
    comment: str | None = Field(
        default=None, min_length=1, max_length=500, description="kept in intake only, never in events"
    )


class RatingRead(BaseModel):
    """A stored rating."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"reply_sequence": 1, "satisfaction": "satisfied", "rated_at": "2026-04-22T03:10:00Z"}
            ]
        }
    )

    reply_sequence: int
    satisfaction: Satisfaction
    rated_at: datetime


class ReviewCreate(BaseModel):
    """A request for review (复查) or recheck (复核) of the latest answer; which one follows from the case."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"reason": "处理意见未回应夜间施工噪音的监测数据，请求上一级机关复查。"}]
        },
    )

    reason: str = Field(min_length=1, max_length=2000, description="why the answer is contested")


class ReviewRead(BaseModel):
    """The accepted request: what was asked, and the case's new status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"stage": "review", "status": "review_requested", "requested_at": "2026-05-06T01:20:00Z"}
            ]
        }
    )

    stage: ReviewStage
    status: str
    requested_at: datetime
